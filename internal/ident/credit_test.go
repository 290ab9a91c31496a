package ident_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

// gb32100Charset is the GB 32100 charset, restated here so the tests do not
// depend on the package's copy.
const gb32100Charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// TestCreditCodeChecksIndependently verifies built codes with the defining
// properties of the two check characters, computed independently of the
// package: GB 32100 makes sum(value_i * 3^(i-1) mod 31) + value_18 = 0 mod 31,
// and GB 11714 makes sum(value_i * w_i) + C9 = 0 mod 11 (X = 10).
func TestCreditCodeChecksIndependently(t *testing.T) {
	orgW := []int{3, 7, 9, 10, 5, 8, 4, 2}
	for n := 0; n < 3000; n++ {
		var body strings.Builder
		for i := 0; i < 8; i++ {
			body.WriteByte(gb32100Charset[(n*(i+7)+i*i*13+n/(i+1))%len(gb32100Charset)])
		}
		code := newCredit(t, '9', '1', "340700", body.String())

		sum, w := 0, 1
		for i := 0; i < 17; i++ {
			sum += strings.IndexByte(gb32100Charset, code[i]) * w
			w = w * 3 % 31
		}
		if (sum+strings.IndexByte(gb32100Charset, code[17]))%31 != 0 {
			t.Fatalf("%s: overall check character wrong", code)
		}

		sum = 0
		for i, c := range code[8:16] {
			v := int(c - '0')
			if c >= 'A' {
				v = int(c-'A') + 10
			}
			sum += v * orgW[i]
		}
		c9 := int(code[16] - '0')
		if code[16] == 'X' {
			c9 = 10
		}
		if (sum+c9)%11 != 0 {
			t.Fatalf("%s: organisation code check character wrong", code)
		}
	}
}

func TestCheckCharErrors(t *testing.T) {
	for _, tc := range []struct {
		name, kind, rule string
		fn               func() error
	}{
		{"credit length", ident.KindCreditCode, ident.RuleLength, func() error { _, err := ident.CreditCodeCheckChar("91340700MA2TXX01"); return err }},
		{"credit charset", ident.KindCreditCode, ident.RuleCharset, func() error { _, err := ident.CreditCodeCheckChar("91340700MA2TXI01X"); return err }},
		{"credit lower case", ident.KindCreditCode, ident.RuleCharset, func() error { _, err := ident.CreditCodeCheckChar("91340700ma2txx01X"); return err }},
		{"org length", ident.KindOrgCode, ident.RuleLength, func() error { _, err := ident.OrgCodeCheckChar("MA2TXX0"); return err }},
		{"org charset", ident.KindOrgCode, ident.RuleCharset, func() error { _, err := ident.OrgCodeCheckChar("MA2T-X01"); return err }},
		{"org lower case", ident.KindOrgCode, ident.RuleCharset, func() error { _, err := ident.OrgCodeCheckChar("ma2txx01"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assertRule(t, "", tc.fn(), tc.kind, tc.rule)
		})
	}
}

func TestParseCreditCodeValid(t *testing.T) {
	type parts struct {
		authority, orgType byte
		division, body8    string
	}
	for _, tc := range []struct {
		name string
		p    parts
	}{
		{"enterprise, 91340700MA2... style", parts{'9', '1', "340700", "MA2TXX01"}},
		{"sole trader", parts{'9', '2', "340702", "L5K7RW3P"}},
		{"farmer co-operative", parts{'9', '3', "340721", "MA8N0QJ2"}},
		{"national social group", parts{'5', '1', "100000", "50000012"}},
		{"other civil affairs", parts{'5', '9', "340705", "MJ1234AB"}},
		{"national organ", parts{'1', '1', "100000", "00001312"}},
		{"arbitration commission", parts{'3', '5', "440300", "7H8J9K0L"}},
		{"village collective", parts{'N', '2', "340721", "MF1234AB"}},
		{"military", parts{'A', '9', "110108", "AB12CD34"}},
		{"other", parts{'Y', '1', "110105", "0A2B3C4D"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := newCredit(t, tc.p.authority, tc.p.orgType, tc.p.division, tc.p.body8)
			want := ident.CreditCode{
				Code:         code,
				Authority:    tc.p.authority,
				OrgType:      tc.p.orgType,
				DivisionCode: tc.p.division,
				OrgCode:      code[8:17],
			}
			if code[8:16] != tc.p.body8 {
				t.Fatalf("NewCreditCode = %q, organisation body not at positions 9-16", code)
			}
			for _, in := range []string{code, " " + strings.ToLower(code) + "\t"} {
				got, err := ident.ParseCreditCode(in)
				if err != nil {
					t.Fatalf("ParseCreditCode(%q): %v", in, err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ParseCreditCode(%q) mismatch (-want +got):\n%s", in, diff)
				}
			}
		})
	}
}

func TestCreditCodeNames(t *testing.T) {
	c, err := ident.ParseCreditCode(newCredit(t, '9', '2', "340702", "L5K7RW3P"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{c.AuthorityName(), c.OrgTypeName(), ident.CreditCode{}.AuthorityName(), ident.CreditCode{}.OrgTypeName()}
	if diff := cmp.Diff([]string{"工商", "个体工商户", "", ""}, got); diff != "" {
		t.Errorf("names mismatch (-want +got):\n%s", diff)
	}
}

func TestParseCreditCodeCheckWarnings(t *testing.T) {
	code := newCredit(t, '9', '1', "340700", "MA2TXX01")
	other := func(c byte) byte {
		if c == '5' {
			return '6'
		}
		return '5'
	}
	// Wrong overall check character only.
	lastWrong := replaceAt(code, 17, other(code[17]))
	// Wrong organisation code check character, overall check recomputed.
	orgWrong := replaceAt(code, 16, other(code[16]))
	cc, err := ident.CreditCodeCheckChar(orgWrong[:17])
	if err != nil {
		t.Fatal(err)
	}
	orgWrong = orgWrong[:17] + string(cc)
	// Position 17 changed alone: both checks fail (31 is prime and no weight is 0).
	bothWrong := replaceAt(code, 16, other(code[16]))

	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"last character changed", lastWrong, []string{
			fmt.Sprintf("check character (position 18) is %c, expected %c", lastWrong[17], code[17])}},
		{"organisation check changed", orgWrong, []string{
			fmt.Sprintf("organisation code check character (position 17) is %c, expected %c", orgWrong[16], code[16])}},
		{"both changed", bothWrong, []string{
			fmt.Sprintf("organisation code check character (position 17) is %c, expected %c", bothWrong[16], code[16]),
			fmt.Sprintf("check character (position 18) is %c, expected %c", bothWrong[17], cc)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseCreditCode(tc.in)
			if err != nil {
				t.Fatalf("ParseCreditCode: %v (a check mismatch must be a warning)", err)
			}
			want := ident.CreditCode{
				Code: tc.in, Authority: '9', OrgType: '1', DivisionCode: "340700", OrgCode: tc.in[8:17], Warnings: tc.want,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseCreditCode mismatch (-want +got):\n%s", diff)
			}
			for _, w := range got.Warnings {
				assertNotLeaked(t, tc.in, w)
			}
		})
	}
}

func TestParseCreditCodeErrors(t *testing.T) {
	code := newCredit(t, '9', '1', "340700", "MA2TXX01")
	for _, tc := range []struct {
		name, in, rule string
	}{
		{"empty", "", ident.RuleLength},
		{"17 characters", code[:17], ident.RuleLength},
		{"19 characters", code + "1", ident.RuleLength},
		{"old 15-digit registration number", "340700000012345", ident.RuleLength},
		{"letter I", replaceAt(code, 10, 'I'), ident.RuleCharset},
		{"letter O", replaceAt(code, 10, 'O'), ident.RuleCharset},
		{"lower-case o", replaceAt(code, 10, 'o'), ident.RuleCharset},
		{"letter S", replaceAt(code, 12, 'S'), ident.RuleCharset},
		{"letter V", replaceAt(code, 13, 'V'), ident.RuleCharset},
		{"letter Z", replaceAt(code, 17, 'Z'), ident.RuleCharset},
		{"inner space", replaceAt(code, 9, ' '), ident.RuleCharset},
		{"hyphen", replaceAt(code, 15, '-'), ident.RuleCharset},
		{"Chinese character", code[:17] + "中", ident.RuleCharset},
		{"authority B", creditWithChecks(t, "B1340700MA2TXX01"), ident.RuleAuthority},
		{"authority 0", creditWithChecks(t, "01340700MA2TXX01"), ident.RuleAuthority},
		{"enterprise type 4", creditWithChecks(t, "94340700MA2TXX01"), ident.RuleOrgType},
		{"enterprise type 9", creditWithChecks(t, "99340700MA2TXX01"), ident.RuleOrgType},
		{"civil affairs type 4", creditWithChecks(t, "54340700MA2TXX01"), ident.RuleOrgType},
		{"other type 2", creditWithChecks(t, "Y2340700MA2TXX01"), ident.RuleOrgType},
		{"type letter", creditWithChecks(t, "9A340700MA2TXX01"), ident.RuleOrgType},
		{"province 99", creditWithChecks(t, "91990700MA2TXX01"), ident.RuleDivision},
		{"province 10 not national", creditWithChecks(t, "91100001MA2TXX01"), ident.RuleDivision},
		{"division 000000", creditWithChecks(t, "91000000MA2TXX01"), ident.RuleDivision},
		{"letter in division", creditWithChecks(t, "9134A700MA2TXX01"), ident.RuleDivision},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseCreditCode(tc.in)
			assertRule(t, tc.in, err, ident.KindCreditCode, tc.rule)
			if diff := cmp.Diff(ident.CreditCode{}, got); diff != "" {
				t.Errorf("result on error is not zero (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewCreditCodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name               string
		authority, orgType byte
		division, body8    string
		rule               string
	}{
		{"authority b", 'b', '1', "340700", "MA2TXX01", ident.RuleAuthority},
		{"authority Z", 'Z', '1', "340700", "MA2TXX01", ident.RuleAuthority},
		{"authority 0", 0, '1', "340700", "MA2TXX01", ident.RuleAuthority},
		{"type 4 for 9", '9', '4', "340700", "MA2TXX01", ident.RuleOrgType},
		{"short division", '9', '1', "34070", "MA2TXX01", ident.RuleDivision},
		{"unknown province", '9', '1', "990000", "MA2TXX01", ident.RuleDivision},
		{"short body", '9', '1', "340700", "MA2TXX0", ident.RuleLength},
		{"long body", '9', '1', "340700", "MA2TXX012", ident.RuleLength},
		{"body with I", '9', '1', "340700", "MA2TXI01", ident.RuleCharset},
		{"lower-case body", '9', '1', "340700", "ma2txx01", ident.RuleCharset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ident.NewCreditCode(tc.authority, tc.orgType, tc.division, tc.body8)
			assertRule(t, "", err, ident.KindCreditCode, tc.rule)
		})
	}
}
