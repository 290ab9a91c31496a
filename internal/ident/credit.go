package ident

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CreditCode is a parsed unified social credit code (GB 32100-2015) whose
// structure is valid. Its check characters may still be wrong: see Warnings.
type CreditCode struct {
	Code         string // normalised 18-character code, upper case
	Authority    byte   // position 1: registration authority code (1-9, A, N, Y)
	OrgType      byte   // position 2: organisation type code, defined per authority
	DivisionCode string // positions 3-8: GB/T 2260 division code of the registering office
	OrgCode      string // positions 9-17: organisation code (GB 11714), including its own check character
	// Warnings lists check-character mismatches (organisation code or overall).
	// They are not errors because codes issued in the early years of the scheme
	// and codes transcribed from old organisation code certificates fail them,
	// yet are the registered, legally valid codes. Nil when there are none.
	Warnings []string
}

// creditAuthority describes one registration authority: its name and the
// organisation types it may register.
type creditAuthority struct {
	name  string
	types map[byte]string
}

// creditAuthorities is the GB 32100-2015 table of registration authorities and
// their organisation types, as extended by the later assignments of 2-4, 6-8, A
// and N. A code outside it cannot have been issued.
var creditAuthorities = map[byte]creditAuthority{
	'1': {"机构编制", map[byte]string{'1': "机关", '2': "事业单位", '3': "中央编办直接管理机构编制的群众团体", '9': "其他"}},
	'2': {"外交", map[byte]string{'1': "外国常驻新闻机构", '9': "其他"}},
	'3': {"司法行政", map[byte]string{'1': "律师执业机构", '2': "公证处", '3': "基层法律服务所", '4': "司法鉴定机构", '5': "仲裁委员会", '9': "其他"}},
	'4': {"文化", map[byte]string{'1': "外国在华文化中心", '9': "其他"}},
	'5': {"民政", map[byte]string{'1': "社会团体", '2': "民办非企业单位", '3': "基金会", '9': "其他"}},
	'6': {"旅游", map[byte]string{'1': "外国旅游部门常驻代表机构", '2': "港澳台地区旅游部门常驻内地（大陆）代表机构", '9': "其他"}},
	'7': {"宗教", map[byte]string{'1': "宗教活动场所", '2': "宗教院校", '9': "其他"}},
	'8': {"工会", map[byte]string{'1': "基层工会", '9': "其他"}},
	'9': {"工商", map[byte]string{'1': "企业", '2': "个体工商户", '3': "农民专业合作社"}},
	'A': {"中央军委改革和编制办公室", map[byte]string{'1': "军队事业单位", '9': "其他"}},
	'N': {"农业", map[byte]string{'1': "组级集体经济组织", '2': "村级集体经济组织", '3': "乡镇级集体经济组织", '9': "其他"}},
	'Y': {"其他", map[byte]string{'1': "其他"}},
}

// nationalDivision is the division code used by national-level registering
// offices (ministries, the national civil affairs register); it is not a
// province code but appears in real credit codes.
const nationalDivision = "100000"

// AuthorityName returns the Chinese name of the registration authority, e.g.
// "工商", for display; "" if unknown.
func (c CreditCode) AuthorityName() string {
	return creditAuthorities[c.Authority].name
}

// OrgTypeName returns the Chinese name of the organisation type, e.g. "企业",
// for display; "" if unknown.
func (c CreditCode) OrgTypeName() string {
	return creditAuthorities[c.Authority].types[c.OrgType]
}

// ParseCreditCode parses a unified social credit code. Surrounding white space
// is trimmed and lower-case letters are upper-cased (codes are often typed by
// hand). Length, charset, registration authority, organisation type and
// division code failures are errors (*RuleError of kind KindCreditCode); a
// wrong check character, of the organisation code or of the whole code, is
// reported in Warnings of an otherwise valid result.
func ParseCreditCode(s string) (CreditCode, error) {
	s = upperASCII(strings.TrimSpace(s))
	if n := utf8.RuneCountInString(s); n != 18 {
		return CreditCode{}, ruleErr(KindCreditCode, RuleLength, fmt.Sprintf("has %d characters, want 18", n))
	}
	pos := 0
	for _, r := range s {
		pos++
		if r >= utf8.RuneSelf || strings.IndexByte(creditCharset, byte(r)) < 0 {
			return CreditCode{}, ruleErr(KindCreditCode, RuleCharset, fmt.Sprintf("character %d is %s, outside the GB 32100 charset (digits and letters except I, O, S, V, Z)", pos, quoteRune(r)))
		}
	}
	// From here s is 18 ASCII characters of the charset.
	if err := checkCreditStructure(s[0], s[1], s[2:8]); err != nil {
		return CreditCode{}, err
	}
	c := CreditCode{Code: s, Authority: s[0], OrgType: s[1], DivisionCode: s[2:8], OrgCode: s[8:17]}
	if want, err := OrgCodeCheckChar(s[8:16]); err == nil && s[16] != want {
		c.Warnings = append(c.Warnings, fmt.Sprintf("organisation code check character (position 17) is %c, expected %c", s[16], want))
	}
	if want, err := CreditCodeCheckChar(s[:17]); err == nil && s[17] != want {
		c.Warnings = append(c.Warnings, fmt.Sprintf("check character (position 18) is %c, expected %c", s[17], want))
	}
	return c, nil
}

// NewCreditCode builds an 18-character unified social credit code from its
// parts, computing the organisation code check character (position 17) and the
// overall check character (position 18); it is meant for generators of test
// and synthetic data. orgBody8 is the 8-character organisation code body, in
// the GB 32100 charset. Errors are *RuleError values of kind KindCreditCode.
func NewCreditCode(authority, orgType byte, division string, orgBody8 string) (string, error) {
	if err := checkCreditStructure(authority, orgType, division); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(orgBody8); n != 8 {
		return "", ruleErr(KindCreditCode, RuleLength, fmt.Sprintf("organisation code body has %d characters, want 8", n))
	}
	for i := 0; i < 8; i++ {
		if strings.IndexByte(creditCharset, orgBody8[i]) < 0 {
			return "", ruleErr(KindCreditCode, RuleCharset, fmt.Sprintf("character %d is %s, outside the GB 32100 charset", 9+i, quoteByte(orgBody8[i])))
		}
	}
	oc, err := OrgCodeCheckChar(orgBody8)
	if err != nil {
		return "", err // unreachable: the charset is a subset of 0-9A-Z
	}
	body := string([]byte{authority, orgType}) + division + orgBody8 + string(oc)
	cc, err := CreditCodeCheckChar(body)
	if err != nil {
		return "", err // unreachable: every part was checked
	}
	return body + string(cc), nil
}

// checkCreditStructure checks positions 1-8 of a credit code: authority,
// organisation type for that authority, and division code.
func checkCreditStructure(authority, orgType byte, division string) error {
	a, ok := creditAuthorities[authority]
	if !ok {
		return ruleErr(KindCreditCode, RuleAuthority, fmt.Sprintf("registration authority code %s is not one of 1-9, A, N, Y", quoteByte(authority)))
	}
	if _, ok := a.types[orgType]; !ok {
		return ruleErr(KindCreditCode, RuleOrgType, fmt.Sprintf("organisation type %s is not defined for registration authority %c (want one of %s)", quoteByte(orgType), authority, typeList(a)))
	}
	if len(division) != 6 {
		return ruleErr(KindCreditCode, RuleDivision, "want 6 digits")
	}
	for i := 0; i < 6; i++ {
		if division[i] < '0' || division[i] > '9' {
			return ruleErr(KindCreditCode, RuleDivision, fmt.Sprintf("character %d is %s, want a digit", 3+i, quoteByte(division[i])))
		}
	}
	if !provinceCodes[division[:2]] && division != nationalDivision {
		return ruleErr(KindCreditCode, RuleDivision, fmt.Sprintf("province part %s is not a GB/T 2260 province code", division[:2]))
	}
	return nil
}

// typeList lists an authority's organisation type codes in order, for messages.
func typeList(a creditAuthority) string {
	var b strings.Builder
	for _, c := range "123456789" {
		if _, ok := a.types[byte(c)]; ok {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteRune(c)
		}
	}
	return b.String()
}

// upperASCII upper-cases ASCII letters only: strings.ToUpper would also map
// some non-ASCII runes onto ASCII letters (e.g. 'ı' to 'I'), letting odd input
// through the charset check.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
