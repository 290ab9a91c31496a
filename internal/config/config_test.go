package config_test

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/ident"
)

// builtinWith is the built-in directory with files replaced or added.
func builtinWith(t *testing.T, files map[string]string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(builtin.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := builtin.FS.ReadFile(p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range files {
		if content == "" {
			delete(m, p)
			continue
		}
		m[p] = &fstest.MapFile{Data: []byte(content)}
	}
	return m
}

func TestBuiltinLoads(t *testing.T) {
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Codes(), ","); got != "civil_affairs,employment,health,party_building,social_security,urban_management" {
		t.Errorf("codes = %s", got)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("the built-in configuration warns: %v", c.Warnings)
	}
	if len(c.Builtin) != 0 {
		t.Errorf("the built-in directory misses %v", c.Builtin)
	}
}

// A directory with fewer departments takes the built-in optional files, less
// what names the departments it lacks.
func TestMissingFilesFallBackToTheBuiltinOnes(t *testing.T) {
	fsys := builtinWith(t, map[string]string{
		"policy.yaml": "", "indicators.yaml": "", "findings.yaml": "", "report/catalogue.yaml": "", "gridwork.yaml": "",
		"report/templates/home_visit.v1.yaml": "", "report/templates/floating_registration.v1.yaml": "",
		"departments/civil_affairs.yaml": "", "departments/employment.yaml": "", "departments/party_building.yaml": "",
		"departments/social_security.yaml": "", "departments/urban_management.yaml": "",
	})
	c, err := config.LoadFS(fsys, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Codes(), ","); got != "health" {
		t.Fatalf("codes = %s", got)
	}
	for _, in := range c.Indicators.All() {
		if in.Department != "core" && in.Department != "health" {
			t.Errorf("indicator %s of %s kept", in.Name, in.Department)
		}
	}
	for _, f := range c.Catalogue.Fields {
		if f.Department != "core" && f.Department != "health" {
			t.Errorf("report field %s kept", f.Key)
		}
	}
	for _, p := range c.Policy.Purposes() {
		for _, f := range p.Fields {
			if !strings.HasPrefix(f, "health.") {
				t.Errorf("purpose %s keeps field %s", p.Code, f)
			}
		}
	}
	for _, tpl := range c.Templates.List() {
		for _, f := range tpl.Fields {
			if f.Department != "core" && f.Department != "health" {
				t.Errorf("template %s keeps %s", tpl.ID, f.Key)
			}
		}
	}
	if len(c.Templates.List()) == 0 {
		t.Error("no template left, though floating_registration asks for health fields")
	}
	// The diary stands; events go nowhere without the department that takes them.
	if c.GridWork == nil || len(c.GridWork.Diary.Categories) == 0 || c.GridWork.Events != nil {
		t.Errorf("gridwork = %+v, want the built-in diary and no events", c.GridWork)
	}
}

// Every problem comes as file:line, a cross-reference naming both files.
func TestProblemsNameFileAndLine(t *testing.T) {
	fsys := builtinWith(t, map[string]string{
		"indicators.yaml": "- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [nope], distinct: person}}\n" +
			"- {name: y, label: l, department: nobody, unit: 人, definition: d, count: {of: facts, sets: [a], distinct: person}}\n",
		"report/catalogue.yaml": "fields:\n  - key: health.floating.inflowDate\n    label: l\n    department: health\n    type: date\n    sensitivity: public\n    writeback: {department: health, target: floating.nothing}\n",
	})
	_, err := config.LoadFS(fsys, "cfg")
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Join(config.Problems(err), "\n")
	for _, want := range []string{
		`cfg/indicators.yaml:1: x: cfg/departments/health.yaml has no record set "nope"`,
		`cfg/indicators.yaml:2: y: no department "nobody" is configured`,
		`cfg/report/catalogue.yaml:7: field "health.floating.inflowDate": health does not take floating.nothing: its writeback block (cfg/departments/health.yaml) has no such field`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not say\n  %s\nin:\n%s", want, got)
		}
	}
}

func TestUndeclaredIdentifiers(t *testing.T) {
	d, err := connectors.ParseDepartment("departments/x.yaml", []byte(`code: x
name: X
kind: rest
source: {rest: {base_url: "http://127.0.0.1:1"}}
feed: {path: /changes, items: items, next: next}
records:
  - name: card
    label: 证
    entity: person
    key: sfzh
    request: {method: GET, path: /cards, keys_param: ids}
    facts: {resource: cards}
    fields:
      - {name: number, label: 证号, from: zh, type: string, sharing: conditional}
      - {name: declared, label: 证号, from: zh2, type: string, sharing: conditional, identifier: certificate}
      - {name: note, label: 备注, from: bz, type: string, sharing: unconditional}
`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ident.ResidentCheckChar("34070519800101123")
	if err != nil {
		t.Fatal(err)
	}
	cert := "34070519800101123" + string(c) + "41" // a disability certificate: ID, category, grade
	facts := []connectors.Fact{
		{Set: "card", Record: connectors.Record{"number": cert, "declared": cert, "note": "ok"}},
		{Set: "card", Record: connectors.Record{"number": "A-1", "note": "call 13812345678"}},
	}
	warns := config.UndeclaredIdentifiers(d, facts)
	var got []string
	for _, w := range warns {
		got = append(got, w.Error())
	}
	all := strings.Join(got, "\n")
	if len(got) != 2 || !strings.Contains(all, "departments/x.yaml:14: field card.number: 1 of 2 sample values hold a resident_id") ||
		!strings.Contains(all, "departments/x.yaml:16: field card.note: 1 of 2 sample values hold a phone") {
		t.Errorf("warnings:\n%s", all)
	}
}
