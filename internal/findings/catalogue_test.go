package findings_test

import (
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/findings"
)

// A findings catalogue with mistakes is refused, each mistake named at its
// line; one naming what the departments lack is refused by CheckDepartments.
func TestCatalogueRefusesMistakesAtTheirLine(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "kinds:\n  - name: a\n    label: A\n    definition: d\n    colour: red\n", []string{"f.yaml:5"}},
		{"two rules", "kinds:\n  - name: a\n    label: A\n    definition: d\n    duplicate: {sets: [x.y]}\n    address: {sets: [x.y]}\n",
			[]string{"f.yaml:2", "exactly one of"}},
		{"no label, bad set", "kinds:\n  - name: a\n    definition: d\n    duplicate: {sets: [xy]}\n",
			[]string{"no label", "f.yaml:4", `set "xy", want department.set`}},
		{"unknown figure", "kinds:\n  - name: a\n    label: A\n    definition: d\n    records: {department: x, sets: [y], where: [{field: n, above: line}]}\n",
			[]string{"f.yaml:5", "line"}},
		{"report without note", "kinds:\n  - name: a\n    label: A\n    definition: d\n    duplicate: {sets: [x.y]}\n    report: {template: t, field: f}\n",
			[]string{"a report needs"}},
	} {
		_, err := findings.ParseFile("f.yaml", []byte(c.yaml))
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want %q in it", c.name, err, w)
			}
		}
	}

	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := findings.ParseFile("f.yaml", []byte(`kinds:
  - name: a
    label: A
    definition: d
    duplicate: {sets: [nowhere.y]}
  - name: b
    label: B
    definition: d
    records: {department: urban_management, sets: [cases], where: [{field: colour, in: [red]}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = cat.CheckDepartments(depts)
	for _, w := range []string{"f.yaml:5", `no department "nowhere"`, "f.yaml:9", `no field "colour"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("CheckDepartments: %v, want %q in it", err, w)
		}
	}
	if err := findings.Default().CheckDepartments(depts); err != nil {
		t.Errorf("the built-in catalogue: %v", err)
	}
}
