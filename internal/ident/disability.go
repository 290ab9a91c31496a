package ident

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"
)

// disabilityCategories are the names of the disability categories 1-7 of the
// second-generation disability certificate; index 0 is unused.
var disabilityCategories = [...]string{"", "视力", "听力", "言语", "肢体", "智力", "精神", "多重"}

// DisabilityCert is a parsed disability certificate number (残疾人证号): the
// holder's resident ID followed by the category and grade digits and an
// optional reissue suffix B1..B9.
type DisabilityCert struct {
	Number       string     // normalised number: Holder.Number + category + grade [+ "B" + reissue]
	Holder       ResidentID // positions 1-18
	Category     int        // position 19: 1 视力 2 听力 3 言语 4 肢体 5 智力 6 精神 7 多重
	CategoryName string     // name of Category, e.g. "肢体"
	Grade        int        // position 20: 1..4 for 一级..四级 (一级 most severe)
	Reissue      int        // suffix B1..B9 as 1..9; 0 for a first issue
}

// String returns the masked number, for the same reason as ResidentID.String:
// the certificate number contains the holder's resident ID.
func (c DisabilityCert) String() string { return MaskDisabilityCert(c.Number) }

// LogValue masks the number for log/slog, as ResidentID.LogValue does.
func (c DisabilityCert) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ParseDisabilityCert parses a disability certificate number, validating the
// holder's resident ID against today's date. See ParseDisabilityCertAt.
func ParseDisabilityCert(s string) (DisabilityCert, error) {
	return ParseDisabilityCertAt(s, time.Now())
}

// ParseDisabilityCertAt parses a disability certificate number, judging the
// holder's birth date against now as ParseResidentIDAt does. The holder's ID
// must be the 18-character form. Surrounding white space is trimmed; a
// lower-case x or b is accepted. Errors are *RuleError values of kind
// KindDisabilityCert; failures of the holder's ID keep their resident ID rule
// name (e.g. RuleCheckDigit) with a "holder ID" detail.
func ParseDisabilityCertAt(s string, now time.Time) (DisabilityCert, error) {
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n < 20 || n > 22 {
		return DisabilityCert{}, ruleErr(KindDisabilityCert, RuleLength, fmt.Sprintf("has %d characters, want 20 (or 22 with a reissue suffix)", n))
	}
	rs := []rune(s)
	holderPart := string(rs[:18])
	// Check the characters here so that inner white space is reported as such
	// rather than trimmed away by ParseResidentIDAt.
	if err := checkDigits(KindDisabilityCert, holderPart, true); err != nil {
		return DisabilityCert{}, err
	}
	holder, err := ParseResidentIDAt(holderPart, now)
	if err != nil {
		var re *RuleError
		if errors.As(err, &re) {
			return DisabilityCert{}, ruleErr(KindDisabilityCert, re.Rule, "holder ID "+re.Detail)
		}
		return DisabilityCert{}, err
	}
	cat, grade := rs[18], rs[19]
	if cat < '1' || cat > '7' {
		return DisabilityCert{}, ruleErr(KindDisabilityCert, RuleCategory, fmt.Sprintf("category (character 19) is %s, want 1-7", quoteRune(cat)))
	}
	if grade < '1' || grade > '4' {
		return DisabilityCert{}, ruleErr(KindDisabilityCert, RuleGrade, fmt.Sprintf("grade (character 20) is %s, want 1-4", quoteRune(grade)))
	}
	c := DisabilityCert{
		Number:       holder.Number + string(cat) + string(grade),
		Holder:       holder,
		Category:     int(cat - '0'),
		CategoryName: disabilityCategories[cat-'0'],
		Grade:        int(grade - '0'),
	}
	if n > 20 {
		if n != 22 || (rs[20] != 'B' && rs[20] != 'b') || rs[21] < '1' || rs[21] > '9' {
			return DisabilityCert{}, ruleErr(KindDisabilityCert, RuleReissue, "suffix after character 20 must be B1-B9")
		}
		c.Reissue = int(rs[21] - '0')
		c.Number += "B" + string(rs[21])
	}
	return c, nil
}
