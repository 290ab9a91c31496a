package gridwork_test

import (
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/gridwork"
)

// gridwork.yaml is checked against the departments: each problem is
// file:line, and the built-in file passes.
func TestConfigProblemsNameTheLine(t *testing.T) {
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	raw := string(builtin.File("gridwork.yaml"))
	if _, err := gridwork.Parse("gridwork.yaml", []byte(raw), depts, []string{"home_visit"}); err != nil {
		t.Fatalf("the built-in file: %v", err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown department", "department: urban_management", "department: sanitation", `no department "sanitation"`},
		{"field not taken", "category: cases.category", "category: cases.caseNumber", "does not take cases.caseNumber"},
		{"no such case field", "stage: stage", "stage: phase", "has no field phase"},
		{"photo type", "types: [image/jpeg, image/png, image/webp]", "types: [image/gif]", `photo type "image/gif"`},
		{"category code", "{code: DISPUTE, label: 矛盾纠纷}", "{code: dispute, label: 矛盾纠纷}", "UPPER_SNAKE_CASE"},
		{"kind not taken", "value: COMPONENT", "value: PART", `kind "PART" is not a value`},
		{"unknown key", "receipt: caseNo", "reciept: caseNo", "field reciept not found"},
		{"admitted template", "configured: {}", "configured: {nosuch: [\"340705001\"]}", `no report template "nosuch"`},
	} {
		if !strings.Contains(raw, tc.old) {
			t.Fatalf("%s: the built-in file has no %q", tc.name, tc.old)
		}
		_, err := gridwork.Parse("gridwork.yaml", []byte(strings.Replace(raw, tc.old, tc.new, 1)), depts, []string{"home_visit"})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "gridwork.yaml:") {
			t.Errorf("%s: %v, want gridwork.yaml:line: ...%s", tc.name, err, tc.want)
		}
	}
	// Without the department that takes events, the built-in file keeps
	// the diary and sends events nowhere.
	if c := gridwork.Default(depts[:1]); c.Events != nil || len(c.Diary.Categories) == 0 {
		t.Errorf("Default without the events department: %+v", c)
	}
}
