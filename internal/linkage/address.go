package linkage

import (
	"strings"
	"unicode"
)

// BuildingKey normalises an address to its building: blanks dropped,
// full-width digits made ASCII, and everything after the building (栋, 幢,
// 号楼) cut off, so "…龙湖小区1栋2单元301室" and "…龙湖小区１栋" agree.
// An address with no building part is kept whole (a village house number).
func BuildingKey(addr string) string {
	var b strings.Builder
	for _, r := range addr {
		switch {
		case unicode.IsSpace(r):
			continue
		case r >= '０' && r <= '９':
			r = '0' + (r - '０')
		}
		b.WriteRune(r)
	}
	s := b.String()
	for _, mark := range []string{"号楼", "栋", "幢"} {
		if i := strings.Index(s, mark); i >= 0 {
			return s[:i+len(mark)]
		}
	}
	for _, mark := range []string{"单元", "室"} {
		if i := strings.Index(s, mark); i >= 0 {
			return strings.TrimRightFunc(s[:i], unicode.IsDigit)
		}
	}
	return s
}
