package server_test

// The leak canary: every answer the hub gives over real department data is
// scanned for identifiers in clear. The six department simulators
// (internal/deptsim) hold what real ledgers hold: disability certificate
// numbers built from the holder's ID number, birth certificate numbers,
// employment certificate numbers, phones. For every caller of the
// authorization matrix that may read the subjects, under every purpose and
// none, the test asks for every typed department field, every department's
// records through the generic path, a page of the grid, the household, and
// every report draft, then the indicators CSV, and scans each answer (and,
// at the end, the hub's log) for check-digit-valid resident ID numbers
// (18 or 15 characters, also inside longer values) and mobile numbers. Each
// one found must sit in a field whose identifier class the caller's purpose
// unmasks (per the matrix's oracle, computed from the mapping and purpose
// files by this test); anything else fails, naming the path.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// lockedBuffer collects the hub's log lines from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	identRun = regexp.MustCompile(`[0-9]{11,}[Xx]?`)
	mobileRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
)

// identifiersIn lists the identifiers in clear inside s, by class: resident
// IDs (valid check character, alone or inside a longer run of digits) and
// mobile numbers.
func identifiersIn(s string) []string {
	var out []string
	for _, run := range identRun.FindAllString(s, -1) {
		run = strings.ToUpper(run)
		switch {
		case len(run) == 11 && mobileRE.MatchString(run):
			out = append(out, "phone")
		case len(run) == 15:
			if _, err := ident.ConvertResidentID15(run); err == nil {
				out = append(out, "resident_id")
			}
		case len(run) >= 18:
			for i := 0; i+18 <= len(run); i++ {
				if _, err := ident.ParseResidentID(run[i : i+18]); err == nil {
					out = append(out, "resident_id")
					break
				}
			}
		}
	}
	return out
}

// canaryHub is a hub over the real department simulators of the test city.
func canaryHub(t *testing.T, fx *testcity.Fixture) (*hub, *deptsim.Dataset) {
	t.Helper()
	fed, ds := simulatedFederation(t, fx)
	cat, err := report.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	templates, err := report.DefaultTemplates(cat)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := report.NewService(fx.App.Pool, cat, templates, fed, report.Options{Opener: fx.Keys})
	if err != nil {
		t.Fatal(err)
	}
	opts, ledger := hubOptions(t, fx)
	opts.Federation, opts.Reports = fed, reports
	return startHub(t, fx, opts, ledger), ds
}

// simulatedFederation starts the six department simulators over the test
// city (two Postgres databases, three HTTP services, the .xlsx ledger) and
// federates them through the built-in mappings and the real connectors.
// It sets the departments' environment, so its test cannot run in parallel.
func simulatedFederation(t *testing.T, fx *testcity.Fixture) (*federation.Federation, *deptsim.Dataset) {
	t.Helper()
	ctx := context.Background()
	ds := deptsim.Build(fx.City, 1)
	dir := t.TempDir()
	if err := ds.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{deptsim.CivilAffairs, deptsim.Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, d, u); err != nil {
			t.Fatal(err)
		}
		for k, v := range deptsim.Env(d, deptsim.Endpoint{DSN: u}) {
			t.Setenv(k, v)
		}
	}
	const key = "canary-key"
	for _, d := range []string{deptsim.Employment, deptsim.SocialSecurity, deptsim.UrbanManagement} {
		s, err := deptsim.NewServer(d, dir, key)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s)
		t.Cleanup(hs.Close)
		for k, v := range deptsim.Env(d, deptsim.Endpoint{URL: hs.URL, APIKey: key}) {
			t.Setenv(k, v)
		}
	}
	for k, v := range deptsim.Env(deptsim.PartyBuilding, deptsim.Endpoint{Ledger: deptsim.LedgerPath(dir)}) {
		t.Setenv(k, v)
	}
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fed, err := federation.New(depts, federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)
	return fed, ds
}

// canarySubjects are residents whose department records hold identifiers:
// a certified disabled resident (the certificate embeds the ID number), a
// mother with a registered birth, a holder of an employment certificate,
// each with a phone in the master index.
func canarySubjects(t *testing.T, city *synth.City, ds *deptsim.Dataset) []synth.Person {
	t.Helper()
	byID := map[int64]synth.Person{}
	for _, p := range city.Persons {
		byID[p.ID] = p
	}
	var out []synth.Person
	take := func(id deptsim.Ident) bool {
		p, ok := byID[id.PersonID]
		if !ok || p.Phone == "" || id.IDNumber != p.IDNumber || slices.ContainsFunc(out, func(q synth.Person) bool { return q.ID == p.ID }) {
			return false
		}
		out = append(out, p)
		return true
	}
	for _, d := range ds.CivilAffairs.Disability {
		if take(d.Ident) {
			break
		}
	}
	for _, b := range ds.Health.Births {
		if take(b.Mother) {
			break
		}
	}
	for _, c := range ds.Employment.Certificates {
		if take(c.Ident) {
			break
		}
	}
	if len(out) != 3 {
		t.Fatalf("canary: %d subjects found, want 3", len(out))
	}
	return out
}

// classOf is the identifier class a value at path may hold in clear, ""
// when the field holds no declared identifier (then any identifier found
// there is a leak whoever asks).
type canaryClasses struct {
	typed   map[string]string // "civilAffairs.disability.certificateNumber" -> class
	byField map[string]string // "civil_affairs.disability.certificateNumber" -> class
}

func newCanaryClasses(t *testing.T) canaryClasses {
	t.Helper()
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	c := canaryClasses{typed: map[string]string{}, byField: map[string]string{}}
	for _, d := range depts {
		for _, rs := range d.Records {
			for _, f := range rs.Fields {
				if f.Identifier == "" {
					continue
				}
				c.byField[d.Code+"."+rs.Name+"."+f.Name] = string(f.Identifier)
				c.typed[d.SectionField(rs.Entity)+"."+rs.SectionFieldName()+"."+f.Name] = string(f.Identifier)
			}
		}
	}
	return c
}

// scan walks an answer and calls leak for every identifier in clear that
// the caller may not see. set is the generic RecordSet being walked
// (department.set), whose FieldValues name their field.
func (c canaryClasses) scan(v any, path []string, set string, mayShow func(class string) bool, leak func(path, class string)) {
	switch x := v.(type) {
	case map[string]any:
		if d, ok := x["department"].(string); ok {
			if n, ok := x["name"].(string); ok {
				set = d + "." + n
			}
		}
		if n, ok := x["name"].(string); ok && set != "" {
			if val, ok := x["value"].(string); ok {
				for _, found := range identifiersIn(val) {
					class := c.byField[set+"."+n]
					if class == "" || !mayShow(class) {
						leak(strings.Join(append(slices.Clip(path), "value"), "."), found)
					}
				}
				return
			}
		}
		for k, e := range x {
			c.scan(e, append(slices.Clip(path), k), set, mayShow, leak)
		}
	case []any:
		for i, e := range x {
			c.scan(e, append(slices.Clip(path), strconv.Itoa(i)), set, mayShow, leak)
		}
	case string:
		for _, found := range identifiersIn(x) {
			class := c.classAt(path)
			if class == "" || !mayShow(class) {
				leak(strings.Join(path, "."), found)
			}
		}
	}
}

// classAt is the declared class of the field at path.
func (c canaryClasses) classAt(path []string) string {
	n := len(path)
	if n == 0 {
		return ""
	}
	switch last := path[n-1]; {
	case last == "idNumber":
		return "resident_id"
	case last == "phone":
		return "phone"
	}
	// Typed: ...section.set[.i].field
	var names []string
	for _, p := range path {
		if _, err := strconv.Atoi(p); err != nil {
			names = append(names, p)
		}
	}
	if len(names) >= 3 {
		if cl, ok := c.typed[strings.Join(names[len(names)-3:], ".")]; ok {
			return cl
		}
	}
	return ""
}

func TestLeakCanary(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	logs := &lockedBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	fx := testcity.Load(t)
	h, ds := canaryHub(t, fx)
	depts := readMappings(t)
	purposes := append([]*mxPurpose{nil}, readPurposes(t)...)
	classes := newCanaryClasses(t)
	fields := schemaFields(t, depts)
	typedQuery := matrixQuery(fields)
	codes := slices.Sorted(func(yield func(string) bool) {
		for c := range depts {
			if !yield(c) {
				return
			}
		}
	})
	var records strings.Builder
	for i, code := range codes {
		fmt.Fprintf(&records, " r%d: records(department: %q) { department name records { fields { name value } } }", i, code)
	}
	genericQuery := `query($id: String!) { person(idNumber: $id) { idNumber phone` + records.String() + ` household { members { idNumber phone` + records.String() + ` } } } }`
	pageQuery := `query($w: ID!) { people(within: $w, first: 100) { nodes { idNumber phone ` + matrixSections(fields) + records.String() + ` } } }`
	cat, err := report.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}

	subjects := canarySubjects(t, fx.City, ds)
	leaks, answers := 0, 0
	for si, s := range subjects {
		org := orgOfGrid(fx.City, s.GridCode)
		callers := []mxCaller{{name: "admin", role: "admin", pr: auth.Principal{Subject: "canary-admin", Roles: []auth.Role{auth.Admin}}}}
		for _, d := range codes {
			callers = append(callers, mxCaller{name: "dept_officer/" + d, role: "dept_officer", dept: d,
				pr: auth.Principal{Subject: "canary-" + d, Roles: []auth.Role{auth.DeptOfficer}, Department: d}})
		}
		for _, c := range []struct{ role, scope string }{{"grid_worker", s.GridCode}, {"community_admin", s.GridCode[:12]}, {"street_admin", s.GridCode[:9]}} {
			callers = append(callers, mxCaller{name: c.role, role: c.role,
				pr: auth.Principal{Subject: "canary-" + c.role, Roles: []auth.Role{auth.Role(c.role)}, Scope: []string{c.scope}}})
		}
		for _, c := range callers {
			for _, pu := range purposes {
				hc := h.as(c.pr).with(purposeName(pu))
				mayShow := func(class string) bool { return clearIdentifier(c, pu, class) }
				check := func(what string, raw []byte) {
					answers++
					var v any
					if err := json.Unmarshal(raw, &v); err != nil {
						t.Fatalf("%s: not JSON: %s", what, clip(raw))
					}
					data, _ := v.(map[string]any)["data"]
					classes.scan(data, nil, "", mayShow, func(path, class string) {
						leaks++
						t.Errorf("LEAK %s as %s, purpose %s: a %s in clear at %s", what, c.name, purposeName(pu), class, path)
					})
					if errs, ok := v.(map[string]any)["errors"]; ok {
						b, _ := json.Marshal(errs)
						for _, found := range identifiersIn(string(b)) {
							leaks++
							t.Errorf("LEAK %s as %s: a %s in an error message: %s", what, c.name, found, clip(b))
						}
					}
				}
				check("typed sections of "+s.Name, hc.raw(typedQuery, map[string]any{"id": s.IDNumber, "cc": org}).raw)
				check("records of "+s.Name, hc.raw(genericQuery, map[string]any{"id": s.IDNumber}).raw)
				if si == 0 { // a page holds every kind of record: once is enough
					check("page of grid "+s.GridCode, hc.raw(pageQuery, map[string]any{"w": s.GridCode}).raw)
				}
				for _, tpl := range []string{"home_visit", "floating_registration"} {
					r := hc.raw(`query($t: ID!, $s: ID!) { reportDraft(template: $t, subject: $s) { fields { field value } } }`,
						map[string]any{"t": tpl, "s": strconv.FormatInt(s.ID, 10)})
					answers++
					var d struct {
						Data struct {
							ReportDraft *struct {
								Fields []struct {
									Field string
									Value *string
								}
							}
						}
					}
					json.Unmarshal(r.raw, &d)
					if d.Data.ReportDraft == nil {
						continue
					}
					for _, f := range d.Data.ReportDraft.Fields {
						if f.Value == nil {
							continue
						}
						class := draftClass(cat, classes, f.Field)
						for _, found := range identifiersIn(*f.Value) {
							if class == "" || !mayShow(class) {
								leaks++
								t.Errorf("LEAK draft %s of %s as %s, purpose %s: a %s in clear in %s", tpl, s.Name, c.name, purposeName(pu), found, f.Field)
							}
						}
					}
				}
			}
		}
	}
	// The CSV export and the log of the whole run.
	req, _ := http.NewRequest("GET", h.srv.URL+"/export/indicators.csv?level=GRID&within="+subjects[0].GridCode[:6], nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, found := range identifiersIn(string(b)) {
			t.Errorf("LEAK indicators.csv: a %s in clear", found)
		}
	}
	for i, line := range strings.Split(logs.String(), "\n") {
		for _, found := range identifiersIn(line) {
			t.Errorf("LEAK log line %d: a %s in clear: %s", i+1, found, line)
		}
	}
	t.Logf("leak canary: %d answers scanned for %d subjects, %d leaks", answers, len(subjects), leaks)
}

// matrixSections is matrixQuery's selection of the person's sections alone.
func matrixSections(fields []mxField) string {
	q := matrixQuery(fields)
	start := strings.Index(q, "person(idNumber: $id) { name idNumber phone") + len("person(idNumber: $id) { name idNumber phone")
	end := strings.Index(q, "  organization(")
	body := q[start:end]
	return strings.TrimSuffix(strings.TrimSpace(body), "}")
}

// draftClass is the identifier class of a draft field: the department
// field it pre-fills from, or the core phone.
func draftClass(cat *report.Catalogue, c canaryClasses, key string) string {
	if key == "core.person.phone" {
		return "phone"
	}
	if cl, ok := c.byField[key]; ok {
		return cl
	}
	_ = cat
	return ""
}

// orgOfGrid is the credit code of an organisation of grid (any, when the
// grid has none: out of scope answers null, which is what the matrix wants).
func orgOfGrid(city *synth.City, grid string) string {
	for _, o := range city.Organizations {
		if o.GridCode == grid {
			return o.CreditCode
		}
	}
	return city.Organizations[0].CreditCode
}
