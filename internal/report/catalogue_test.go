package report

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/ident"
)

func defaults(t testing.TB) (*Catalogue, *Templates) {
	t.Helper()
	cat, err := DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := DefaultTemplates(cat)
	if err != nil {
		t.Fatal(err)
	}
	return cat, ts
}

func TestDefaultTemplates(t *testing.T) {
	_, ts := defaults(t)
	var got []string
	for _, tpl := range ts.List() {
		got = append(got, tpl.ID)
	}
	if diff := cmp.Diff([]string{"floating_registration", "home_visit"}, got); diff != "" {
		t.Fatalf("templates (-want +got):\n%s", diff)
	}
	hv := ts.Latest("home_visit")
	if n := len(hv.Fields); n < 20 || n > 26 {
		t.Errorf("home visit has %d fields, want 20-26", n)
	}
	wantDepts := []string{Core, "civil_affairs", "health", "employment", "social_security", "urban_management", "party_building"}
	if diff := cmp.Diff(wantDepts, hv.Departments); diff != "" {
		t.Errorf("home visit departments (-want +got):\n%s", diff)
	}
	fr := ts.Latest("floating_registration")
	if diff := cmp.Diff([]string{Core, "health"}, fr.Departments); diff != "" {
		t.Errorf("floating registration departments (-want +got):\n%s", diff)
	}
	if f := fr.Field("health.floating.inflowDate"); f == nil || !f.Required || f.Field.Required {
		t.Errorf("floating registration overrides required for inflowDate: %+v", f)
	}
}

// The catalogue's department fields are fields of the department mapping files
// (same unified names and compatible types, enum values the department knows),
// and are written where the department takes them.
func TestCatalogueMatchesDepartmentMappings(t *testing.T) {
	cat, _ := defaults(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CheckDepartments(depts); err != nil {
		t.Fatal(err)
	}
}

func TestCatalogueErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", `
fields:
  - key: core.person.phone
    label: 电话
    colour: red
`, []string{"test.yaml:5:", "colour"}},
		{"bad field", `
fields:
  - key: health.floating
    label: x
    department: health
    type: string
    sensitivity: public
    writeback: {department: health, target: floating.x}
  - key: health.floating.reason
    label: 原因
    department: civil_affairs
    type: enum
    sensitivity: secret
    writeback: {department: employment, target: floating.reason}
  - key: core.person.shoeSize
    label: 鞋码
    department: core
    type: int
    min: 40
    max: 30
    sensitivity: public
    writeback: {department: core, target: person.shoeSize}
  - key: health.floating.inflowDate
    label: 流入日期
    department: health
    type: date
    required_if: {field: health.floating.nothing, equals: [X]}
    sensitivity: public
    writeback: {department: health, target: floating.inflowDate}
`, []string{
			`test.yaml:3: field "health.floating": key must be department.set.field`,
			`test.yaml:9: field "health.floating.reason": department "civil_affairs" must be the key's first part "health"`,
			`sensitivity "secret"`,
			"an enum needs values",
			`writeback.department "employment" must be the owning department`,
			"min 40 is above max 30",
			`writeback.target "person.shoeSize" is not a master index target`,
			`test.yaml:23: field "health.floating.inflowDate": required_if: no field "health.floating.nothing"`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCatalogue("test.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTemplateVersions(t *testing.T) {
	cat, _ := defaults(t)
	fsys := fstest.MapFS{
		"visit.v1.yaml": {Data: []byte("id: visit\nversion: 1\ntitle: 走访\nsubject: person\nretired: true\nsections:\n  - title: 基本\n    fields: [{field: core.person.phone}]\n")},
		"visit.v2.yaml": {Data: []byte("id: visit\nversion: 2\ntitle: 走访(新)\nsubject: person\nsections:\n  - title: 基本\n    fields: [{field: core.person.phone, required: true}, {field: core.person.residence}]\n")},
	}
	ts, err := LoadTemplatesFS(fsys, "testdata", cat)
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.Latest("visit"); got == nil || got.Version != 2 {
		t.Fatalf("latest = %+v, want version 2", got)
	}
	if got := ts.List(); len(got) != 1 || got[0].Version != 2 {
		t.Fatalf("list = %+v, want only version 2", got)
	}
	if got := ts.Version("visit", 1); got == nil || !got.Retired {
		t.Fatalf("version 1 is not loadable: %+v", got)
	}
	s := &Service{}
	s.Reconfigure(nil, ts)
	for _, c := range []struct {
		version   int
		forSubmit bool
		rule      string
	}{{1, true, "retired"}, {3, true, "unknown"}, {3, false, "unknown"}} {
		_, err := s.Template("visit", c.version, c.forSubmit)
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.BadUserInput || e.Field != "version" || e.Rule != c.rule {
			t.Errorf("version %d (submit %v): %v, want BAD_USER_INPUT version/%s", c.version, c.forSubmit, err, c.rule)
		}
	}
	if tpl, err := s.Template("visit", 1, false); err != nil || tpl.Version != 1 {
		t.Errorf("a retired version stays readable: %v", err)
	}
	if _, err := s.Template("nope", 0, false); err == nil {
		t.Error("unknown template accepted")
	}
}

func TestTemplateErrors(t *testing.T) {
	cat, _ := defaults(t)
	fsys := fstest.MapFS{
		"a.v1.yaml": {Data: []byte("id: a\nversion: 1\ntitle: A\nsubject: person\nsections:\n  - title: S\n    fields: [{field: core.person.phone}, {field: core.person.phone}, {field: health.nothing.here}]\n")},
		"b.v2.yaml": {Data: []byte("id: b\nversion: 1\ntitle: B\nsubject: person\nsections:\n  - title: S\n    fields: [{field: core.person.awaySince}]\n")},
		"c.v1.yaml": {Data: []byte("id: c\nversion: 1\ntitle: C\nsubject: household\nextra: 1\nsections: []\n")},
	}
	_, err := LoadTemplatesFS(fsys, "tpl", cat)
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		"tpl/a.v1.yaml:7: sections[0].fields[1]: core.person.phone is in the template twice",
		`tpl/a.v1.yaml:7: sections[0].fields[2]: "health.nothing.here" is not in the field catalogue`,
		"tpl/b.v2.yaml:5: core.person.awaySince is required_if core.person.residence, which the template does not hold",
		"tpl/c.v1.yaml:5: field extra not found",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not say %q:\n%v", w, err)
		}
	}
}

func TestFieldParse(t *testing.T) {
	cat, _ := defaults(t)
	now := time.Date(2026, 5, 10, 20, 0, 0, 0, time.UTC) // already 11 May in China
	id := validID(t)
	cases := []struct {
		field, raw, text string
		typed            any
		rule             string
	}{
		{"core.person.phone", "13912345678", "13912345678", "13912345678", ""},
		{"core.person.phone", "0562-2823456", "0562-2823456", "0562-2823456", ""},
		{"core.person.phone", "12345", "", nil, "pattern"},
		{"core.person.residence", "AWAY", "AWAY", "AWAY", ""},
		{"core.person.residence", "在住", "", nil, "enum"},
		{"core.person.awaySince", "2026-05-11", "2026-05-11", time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC), ""},
		{"core.person.awaySince", "2026-05-12", "", nil, "not_future"},
		{"core.person.awaySince", "2026/05/01", "", nil, "date"},
		{"core.household.residentCount", "03", "3", int64(3), ""},
		{"core.household.residentCount", "31", "", nil, "range"},
		{"core.household.residentCount", "2.5", "", nil, "int"},
		{"health.floating.residencePermit", "TRUE", "true", true, ""},
		{"health.floating.residencePermit", "是", "", nil, "bool"},
		{"health.floating.originCode", "340705", "340705", "340705", ""},
		{"health.floating.originCode", "34070", "", nil, "pattern"},
		{"civil_affairs.disability.certificateNumber", strings.ToLower(id) + "42", id + "42", id + "42", ""},
		{"civil_affairs.disability.certificateNumber", id + "82", "", nil, "idnumber"},
		{"civil_affairs.disability.certificateNumber", id[:17] + "0" + "42", "", nil, "idnumber"},
		{"employment.unemployment.reason", strings.Repeat("长", 101), "", nil, "length"},
	}
	for _, c := range cases {
		f := cat.Field(c.field)
		v, err := f.Parse(c.raw, now)
		if c.rule != "" {
			re, ok := err.(*ruleError)
			if !ok || re.Rule != c.rule {
				t.Errorf("%s %q: error %v, want rule %s", c.field, c.raw, err, c.rule)
			} else if strings.Contains(re.Message, c.raw) && len(c.raw) > 6 {
				t.Errorf("%s: message repeats the value: %s", c.field, re.Message)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q: %v", c.field, c.raw, err)
			continue
		}
		if v.Text != c.text || !cmp.Equal(v.Typed, c.typed) {
			t.Errorf("%s %q = %q %#v, want %q %#v", c.field, c.raw, v.Text, v.Typed, c.text, c.typed)
		}
	}
}

// validID is a valid resident ID number for the tests.
func validID(t testing.TB) string {
	t.Helper()
	id, err := ident.NewResidentID("340705", time.Date(1980, 3, 4, 0, 0, 0, 0, time.UTC), 12)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestValidateCollectsEveryError(t *testing.T) {
	_, ts := defaults(t)
	tpl := ts.Latest("home_visit")
	id := validID(t)
	sub := &Subject{PersonID: "7", idNumber: id}
	str := func(s string) *string { return &s }
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	draft := &Draft{}
	for _, f := range tpl.Fields {
		draft.Fields = append(draft.Fields, &DraftField{TemplateField: f, Source: f.Department, AsOf: &at})
	}
	draft.Field("civil_affairs.dibao.status").Value = str("ACTIVE") // makes dibao.persons required
	draft.Field("core.person.phone").Value = str("13900000000")

	now := time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)
	other, _ := ident.NewResidentID("340705", time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), 8)
	values := []FieldValue{
		{"core.person.phone", ""},                                    // 0 required, cleared
		{"core.person.residence", "AWAY"},                            // 1 makes awaySince required
		{"health.floating.reason", "TOURISM"},                        // 2 enum
		{"health.floating.inflowDate", "2099-01-01"},                 // 3 future
		{"health.marriage.children", "-1"},                           // 4 range
		{"employment.unemployment.status", "REGISTERED"},             // 5 makes registeredOn required
		{"health.no.such", "x"},                                      // 6 unknown
		{"core.household.residentCount", "3"},                        // 7 ok
		{"core.household.residentCount", "4"},                        // 8 duplicate
		{"civil_affairs.disability.certificateNumber", other + "11"}, // 9 holder
		{"party_building.membership.lastContact", "31/12/2025"},      // 10 date
		{"party_building.membership.outOfContact", "maybe"},          // 11 bool
		{"urban_management.cases.category", "SANITATION"},            // 12 makes description required
	}
	got, errs := validate(tpl, values, draft, sub, now)
	type row struct{ Path, Field, Rule string }
	var rows []row
	for _, e := range errs {
		rows = append(rows, row{e.Path, e.Field, e.Rule})
	}
	want := []row{
		{"values[2].value", "health.floating.reason", "enum"},
		{"values[3].value", "health.floating.inflowDate", "not_future"},
		{"values[4].value", "health.marriage.children", "range"},
		{"values[6].field", "health.no.such", "unknown"},
		{"values[8].field", "core.household.residentCount", "duplicate"},
		{"values[9].value", "civil_affairs.disability.certificateNumber", "holder"},
		{"values[10].value", "party_building.membership.lastContact", "date"},
		{"values[11].value", "party_building.membership.outOfContact", "bool"},
		{"values[0].value", "core.person.phone", "required"},
		{"values", "core.person.awaySince", "required_if"},
		{"values", "civil_affairs.dibao.persons", "required_if"},
		{"values", "employment.unemployment.registeredOn", "required_if"},
		{"values", "urban_management.cases.description", "required_if"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if got["core.household.residentCount"].text != "3" {
		t.Errorf("the first of a duplicate is kept: %+v", got["core.household.residentCount"])
	}
	// The error as the presenter sees it.
	verr := &ValidationError{Errors: errs}
	e, ok := apperr.As(verr)
	if !ok || e.Code != apperr.BadUserInput || e.Field != "values[2].value" || e.Rule != "enum" {
		t.Errorf("apperr.As = %+v", e)
	}
	if n := len(verr.AppErrors()); n != len(want) {
		t.Errorf("%d app errors", n)
	}
	for _, fe := range errs {
		if strings.Contains(fe.Message, id) || strings.Contains(fe.Message, other) {
			t.Errorf("message shows an ID number: %s", fe.Message)
		}
	}

	// Conditions decided by the draft alone: dibao.persons is required because
	// the draft says ACTIVE; submitting ENDED lifts it.
	_, errs = validate(tpl, []FieldValue{{"core.person.residence", "RESIDENT"}, {"civil_affairs.dibao.status", "ENDED"}}, draft, sub, now)
	if len(errs) != 0 {
		t.Errorf("unexpected errors: %v", (&ValidationError{Errors: errs}).Error())
	}
}

func TestBackoff(t *testing.T) {
	b := &Backoff{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}
	for n, want := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 4: 80 * time.Millisecond, 5: 100 * time.Millisecond, 50: 100 * time.Millisecond} {
		got := b.Delay(n)
		if got < want*9/10 || got > want*11/10 {
			t.Errorf("delay %d = %v, want %v ±10%%", n, got, want)
		}
	}
	if d := (&Backoff{}).Delay(30); d > 330*time.Second {
		t.Errorf("default cap: %v", d)
	}
}

func TestDepartmentsOfCatalogue(t *testing.T) {
	cat, _ := defaults(t)
	want := []string{"civil_affairs", "employment", "health", "party_building", "social_security", "urban_management"}
	if got := cat.Departments(); !slices.Equal(got, want) {
		t.Errorf("departments = %v", got)
	}
}
