package ident

import (
	"fmt"
	"strings"
)

// residentWeights are the GB 11643-1999 weights 2^(17-i) mod 11 for the first 17 characters.
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// residentCheckChars maps the weighted sum mod 11 to the check character (ISO 7064 MOD 11-2).
const residentCheckChars = "10X98765432"

// ResidentCheckChar is the check character of an 18-character resident ID whose
// first 17 characters are first17 (all digits). Errors are *RuleError values of
// kind KindResidentID (rules RuleLength, RuleCharset).
func ResidentCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, ruleErr(KindResidentID, RuleLength, fmt.Sprintf("body has %d bytes, want 17 digits", len(first17)))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, ruleErr(KindResidentID, RuleCharset, fmt.Sprintf("character %d is %s, want a digit", i+1, quoteByte(c)))
		}
		sum += int(c-'0') * residentWeights[i]
	}
	return residentCheckChars[sum%11], nil
}

// creditCharset is the GB 32100-2015 character set; a character's value is its index.
// I, O, Z, S and V are left out because they are easily confused with 1, 0, 2, 5 and U.
const creditCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditWeights are 3^(i-1) mod 31 for positions 1..17.
var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// CreditCodeCheckChar is the check character of an 18-character unified social credit
// code whose first 17 characters are first17 (upper case, GB 32100 charset). Errors
// are *RuleError values of kind KindCreditCode (rules RuleLength, RuleCharset).
func CreditCodeCheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, ruleErr(KindCreditCode, RuleLength, fmt.Sprintf("body has %d bytes, want 17", len(first17)))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(creditCharset, first17[i])
		if v < 0 {
			return 0, ruleErr(KindCreditCode, RuleCharset, fmt.Sprintf("character %d is %s, outside the GB 32100 charset", i+1, quoteByte(first17[i])))
		}
		sum += v * creditWeights[i]
	}
	return creditCharset[(31-sum%31)%31], nil
}

// orgWeights are the GB 11714-1997 weights of the 8-character organisation code body.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// OrgCodeCheckChar is the check character of a 9-character organisation code
// (GB 11714-1997, positions 9-17 of a credit code) whose first 8 characters are
// first8 (digits or upper-case letters). The result is a digit or 'X'. Errors are
// *RuleError values of kind KindOrgCode (rules RuleLength, RuleCharset).
func OrgCodeCheckChar(first8 string) (byte, error) {
	if len(first8) != 8 {
		return 0, ruleErr(KindOrgCode, RuleLength, fmt.Sprintf("body has %d bytes, want 8", len(first8)))
	}
	sum := 0
	for i := 0; i < 8; i++ {
		c := first8[i]
		var v int
		switch {
		case c >= '0' && c <= '9':
			v = int(c - '0')
		case c >= 'A' && c <= 'Z':
			v = int(c-'A') + 10
		default:
			return 0, ruleErr(KindOrgCode, RuleCharset, fmt.Sprintf("character %d is %s, want 0-9 or A-Z", i+1, quoteByte(c)))
		}
		sum += v * orgWeights[i]
	}
	switch r := 11 - sum%11; r {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + r), nil
	}
}

// quoteByte quotes one byte for an error message. Non-ASCII bytes are shown as
// hex, because %q on a lone byte of a UTF-8 sequence would print a different,
// misleading character.
func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return fmt.Sprintf("%q", rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}
