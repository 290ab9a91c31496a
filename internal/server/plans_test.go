package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// planShape is one query of TestPlansAnswerAsTheExecutor; planned says a
// compiled plan must answer it for an admin on a home visit (else the
// executor may: a shape plans do not cover, or an answer with an error).
type planShape struct {
	name    string
	query   string
	vars    map[string]any
	planned bool
}

// TestPlansAnswerAsTheExecutor holds graph.Plans to gqlgen's executor: two
// hubs over the same database, ledger and six real department simulators,
// one with the plans and one without (ExecutorOnly), are asked the same
// queries as the same callers, and must answer byte for byte alike (status,
// media type, body: data, masked identifiers, errors and their order) and
// append the same ledger entry (persons, fields, caller, purpose,
// operation). The shapes cover what plans answer (pages, edges, cursors,
// page info, counts, a person, every typed department field, aliases,
// fragments, @skip/@include by literal and by variable, __typename at every
// level, several root fields) and what they leave to the executor (bad
// input, withheld fields, other fields); the callers, what changes the
// answer (masking, scope, field policy, purpose). A second pair of hubs
// over memory departments adds what the simulators rarely give: text
// fields carrying a resident ID or mobile number without declaring a class
// (ident.Embedded masks them by the purpose), every section's provenance,
// and a department down (a stale copy, no copy, a page).
func TestPlansAnswerAsTheExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	fx := testcity.Load(t)
	fed, ds := simulatedFederation(t, fx)
	opts, ledger := hubOptions(t, fx)
	opts.Federation = fed
	planned := startHub(t, fx, opts, ledger)
	ref := opts
	ref.ExecutorOnly = true
	executor := startHub(t, fx, ref, ledger)

	subjects := canarySubjects(t, fx.City, ds)
	s := subjects[0]
	var outside synth.Person // a resident of another township
	for _, p := range fx.City.Persons {
		if p.GridCode[:9] != s.GridCode[:9] {
			outside = p
			break
		}
	}
	nobody := "11010119000101001"
	check, err := ident.ResidentCheckChar(nobody)
	if err != nil {
		t.Fatal(err)
	}
	nobody += string(check)
	// Every typed department field, and those an admin on a home visit
	// may see (the matrix's oracle): a plan answers only the latter
	// without errors.
	fields := schemaFields(t, readMappings(t))
	sections := matrixSections(fields)
	purposes := map[string]*mxPurpose{}
	for _, pu := range readPurposes(t) {
		purposes[pu.Code] = pu
	}
	// visible is the typed selection of what a caller, stating a purpose,
	// sees of every department without an error.
	visible := func(pr auth.Principal, purpose string) string {
		c := mxCaller{role: string(pr.Roles[0]), dept: pr.Department}
		var seen []mxField
		for _, f := range fields {
			if f.root == "person" && expectField(c, purposes[purpose], f) == "" {
				seen = append(seen, f)
			}
		}
		return matrixSections(seen)
	}
	shown := visible(auth.Principal{Roles: []auth.Role{auth.Admin}}, "home_visit")
	grid, community := s.GridCode, s.GridCode[:12]

	// A cursor in the middle of the subject's community.
	var first struct {
		People struct {
			PageInfo struct{ EndCursor string }
		}
	}
	executor.mustQuery(`query($w: ID!) { people(within: $w, first: 3) { pageInfo { endCursor } } }`, map[string]any{"w": community}, &first)
	cursor := first.People.PageInfo.EndCursor

	core := `__typename id idNumber name gender birthDate ethnicity phone relation`
	page := func(sel string) string {
		return `query($w: ID!, $n: Int, $a: String) { people(within: $w, first: $n, after: $a) { ` + sel + ` } }`
	}
	w := func(within string, n int) map[string]any { return map[string]any{"w": within, "n": n} }
	one := func(sel string) string { return `query($id: String!) { person(idNumber: $id) { ` + sel + ` } }` }
	id := map[string]any{"id": s.IDNumber}
	shapes := []planShape{
		{"W1 page", page(`nodes { name gender birthDate }`), w(grid, 100), true},
		{"W2 page", page(`nodes { name gender birthDate household { address } grid { code } }`), w(grid, 100), true},
		{"every core field", page(`__typename nodes { ` + core + ` grid { __typename code name households residents } household { __typename id address } }`), w(community, 30), true},
		{"details only", page(`nodes { id relation ethnicity }`), w(community, 30), true},
		{"identifiers and a household id only", page(`nodes { phone idNumber household { id } }`), w(community, 30), true},
		{"edges, cursors, page info, count", page(`totalCount edges { __typename cursor node { name } } pageInfo { __typename hasNextPage endCursor } nodes { id }`), w(community, 7), true},
		{"after a cursor", page(`pageInfo { hasNextPage endCursor } edges { cursor node { id name } }`), map[string]any{"w": community, "n": 5, "a": cursor}, true},
		{"default page size", `query($w: ID!) { people(within: $w) { nodes { id } pageInfo { endCursor } } }`, map[string]any{"w": community}, true},
		{"empty page", page(`totalCount nodes { id } edges { cursor } pageInfo { hasNextPage endCursor }`), w(grid, 0), true},
		{"township, unusual aliases", page(`n: nodes { who: name born: birthDate g: grid { c: code } } p: pageInfo { more: hasNextPage }`), w(grid[:9], 100), true},
		{"literal arguments", `{ people(within: "` + community + `", first: 4) { nodes { id name } } }`, nil, true},
		{"fragments", `query($w: ID!) { people(within: $w, first: 10) { ...Conn } }
			fragment Conn on PersonConnection { nodes { ...P ... on Person { phone } } edges { node { ...P } } }
			fragment P on Person { name ...Q idNumber household { ... on Household { address } } }
			fragment Q on Person { gender name }`, map[string]any{"w": community}, true},
		{"merged fields", page(`nodes { name } nodes { gender grid { code } } nodes { grid { name } }`), w(community, 5), true},
		{"@skip and @include, literal", page(`nodes { name @skip(if: true) gender @include(if: true) phone @include(if: false) grid @skip(if: false) { code } }`), w(community, 5), true},
		{"@skip and @include, by variable", `query($w: ID!, $yes: Boolean!, $no: Boolean!) { people(within: $w, first: 5) { nodes { name @skip(if: $yes) gender @include(if: $yes) ... on Person @include(if: $no) { phone } } } }`,
			map[string]any{"w": community, "yes": true, "no": false}, true},
		{"a person", one(core + ` grid { code name } household { id address }`), id, true},
		{"a person's sections", one(`name ` + shown), id, true},
		{"sections on a page", page(`nodes { id ` + shown + ` }`), w(grid, 100), true},
		{"every section field of a person", one(`name ` + sections), id, false},
		{"every section field on a page", page(`nodes { id ` + sections + ` }`), w(grid, 100), false},
		{"sections with typenames and aliases", one(`civilAffairs { __typename d: disability { __typename grade } source { __typename department asOf stale } }
			u: urbanCases { cs: cases { __typename caseNumber stage } src: source { department } } employment { assistance { kind date } }`), id, true},
		{"several roots", `query($a: String!, $b: String!, $w: ID!) { __typename a: person(idNumber: $a) { name phone } b: person(idNumber: $b) { idNumber ` + shown + ` } people(within: $w, first: 2) { nodes { name } } }`,
			map[string]any{"a": s.IDNumber, "b": subjects[1].IDNumber, "w": community}, true},
		{"nobody with this number", one(`name`), map[string]any{"id": nobody}, true},
		{"out of the caller's scope", one(`name idNumber`), map[string]any{"id": outside.IDNumber}, true},
		{"a bad ID number", one(`name`), map[string]any{"id": "12345"}, false},
		{"a bad within", page(`nodes { name }`), w("12", 5), false},
		{"first out of range", page(`nodes { name }`), w(community, 101), false},
		{"a bad cursor", page(`nodes { name }`), map[string]any{"w": community, "a": "nonsense"}, false},
		{"a household's members (executor)", one(`household { members { name } }`), id, false},
		{"records (executor)", one(`records(department: "civil_affairs") { name records { fields { name value } } }`), id, false},
		{"a case's grid (executor)", one(`urbanCases { cases { caseNumber grid { code } } }`), id, false},
		{"@defer (executor)", one(`name ... @defer { gender }`), id, false},
	}

	type caller struct {
		name, purpose string
		pr            auth.Principal
		all           bool // every shape, not only the policy ones
		planned       bool // reads rows: what it may see is planned
	}
	officer := func(dept, purpose string) caller {
		return caller{name: "dept_officer/" + dept, purpose: purpose, pr: auth.Principal{Subject: "plans-" + dept, Roles: []auth.Role{auth.DeptOfficer}, Department: dept}, planned: true}
	}
	callers := []caller{
		{name: "admin", purpose: "home_visit", pr: auth.Principal{Subject: "plans-admin", Roles: []auth.Role{auth.Admin}}, all: true, planned: true},
		{name: "admin", pr: auth.Principal{Subject: "plans-admin", Roles: []auth.Role{auth.Admin}}, all: true, planned: true},
		officer("civil_affairs", ""), officer("civil_affairs", "dibao_review"),
		officer("employment", "employment_assistance"), officer("urban_management", ""),
		{name: "grid_worker@grid", purpose: "home_visit", pr: auth.Principal{Subject: "plans-gw", Roles: []auth.Role{auth.GridWorker}, Scope: []string{grid}}, planned: true},
		{name: "grid_worker@other-grid", pr: auth.Principal{Subject: "plans-gw2", Roles: []auth.Role{auth.GridWorker}, Scope: []string{outside.GridCode}}, planned: true},
		{name: "street_admin", purpose: "floating_population", pr: auth.Principal{Subject: "plans-street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{grid[:9]}}, planned: true},
		{name: "bi_reader", pr: auth.Principal{Subject: "plans-bi", Roles: []auth.Role{auth.BIReader}}},
	}
	policyShapes := []string{"W1 page", "every core field", "a person", "a person's sections", "sections on a page",
		"every section field of a person", "sections with typenames and aliases", "out of the caller's scope"}

	for _, c := range callers {
		hp, he := planned.as(c.pr).with(c.purpose), executor.as(c.pr).with(c.purpose)
		mine := visible(c.pr, c.purpose)
		own := []planShape{
			{"what the caller sees of a person", one(`idNumber phone ` + mine), id, c.planned},
			{"what the caller sees on a page", page(`nodes { idNumber phone ` + mine + ` }`), w(grid, 100), c.planned},
		}
		for i, sh := range append(own, shapes...) {
			isOwn := i < len(own)
			if !c.all && !slices.Contains(policyShapes, sh.name) && !isOwn {
				continue
			}
			what := fmt.Sprintf("%s (purpose %q): %s", c.name, c.purpose, sh.name)
			samePlanAnswer(t, ledger, planned, hp, he, what, sh, sh.planned && (c.all && c.purpose == "home_visit" || isOwn))
		}
	}

	// Departments answering what real ones rarely do, from memory
	// (fedtest): text fields that carry a resident ID number or a mobile
	// number without declaring an identifier class (masked unless the
	// purpose unmasks the class found), every section's provenance
	// (linkedBy included), then a department that fails: a section from the
	// recent copy (stale, with an error) and one with no copy (null, with an
	// error), which the plan leaves to the executor.
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fedtest.Register()
	mem := fedtest.AsMemory(depts)
	memFed, err := federation.New(mem, federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(memFed.Close)
	for _, d := range mem {
		fedtest.SourceFor(d.Code).SetText(func(field, key string, i int) string {
			switch (len(field) + i) % 3 {
			case 0:
				return "联系人身份证" + key + "，见" + field
			case 1:
				return field + "，联系电话13912345678"
			}
			return fmt.Sprintf("%s-%s-%d", field, key[len(key)-4:], i)
		})
	}
	memOpts := opts
	memOpts.Federation = memFed
	memPlanned := startHub(t, fx, memOpts, ledger)
	memOpts.ExecutorOnly = true
	memExecutor := startHub(t, fx, memOpts, ledger)
	source := `source { __typename department asOf stale linkedBy }`
	var withSource []string
	for _, sec := range mxSections[0].sections {
		withSource = append(withSource, sec[0]+` { `+source+` }`)
	}
	provenance := strings.Join(withSource, " ")
	memCallers := []caller{
		callers[0], callers[1], officer("employment", "employment_assistance"), officer("health", ""),
		{name: "grid_worker@grid", purpose: "floating_population", pr: auth.Principal{Subject: "plans-gw", Roles: []auth.Role{auth.GridWorker}, Scope: []string{grid}}, planned: true},
	}
	for _, c := range memCallers {
		hp, he := memPlanned.as(c.pr).with(c.purpose), memExecutor.as(c.pr).with(c.purpose)
		mine := visible(c.pr, c.purpose)
		for _, sh := range []planShape{
			{"text carrying identifiers, a person", one(`idNumber ` + mine), id, true},
			{"text carrying identifiers, a page", page(`nodes { idNumber ` + mine + ` }`), w(grid, 100), true},
			{"provenance", one(provenance), id, true},
			{"every section field", one(sections), id, false},
		} {
			samePlanAnswer(t, ledger, memPlanned, hp, he, fmt.Sprintf("memory departments, %s (purpose %q): %s", c.name, c.purpose, sh.name), sh, sh.planned)
		}
	}
	// The resident of another township was never read from memory: no
	// recent copy of them.
	down := fedtest.SourceFor(mem[0].Code)
	down.Set(fedtest.Down)
	t.Cleanup(func() { down.Set(fedtest.Up) })
	// Failures open the department's breaker: both hubs then say so alike.
	for range 20 {
		if errs := memExecutor.query(one(shown), id, nil); len(errs) > 0 && strings.Contains(errs[0].Message, "circuit open") {
			break
		}
	}
	for _, sh := range []planShape{
		{"a department down, the recent copy", one(shown + ` ` + provenance), id, false},
		{"a department down, no copy", one(shown + ` ` + provenance), map[string]any{"id": outside.IDNumber}, false},
		{"a department down, a page", page(`nodes { id ` + shown + ` }`), w(grid, 30), false},
	} {
		for _, c := range memCallers[:2] {
			hp, he := memPlanned.as(c.pr).with(c.purpose), memExecutor.as(c.pr).with(c.purpose)
			samePlanAnswer(t, ledger, memPlanned, hp, he, fmt.Sprintf("memory departments, %s (purpose %q): %s", c.name, c.purpose, sh.name), sh, false)
		}
	}
}

// samePlanAnswer asks the hub with plans (hp, a caller of planned) and the
// one without (he) the same query, one after the other, and fails unless
// they answer alike (status, media type, body up to read times and the
// order of errors) and append alike ledger entries; with mustPlan, unless
// a plan answered.
func samePlanAnswer(t *testing.T, ledger *audit.Ledger, planned, hp, he *hub, what string, sh planShape, mustPlan bool) {
	t.Helper()
	ctx := context.Background()
	count := func() int64 {
		n, err := ledger.Count(ctx, audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := plannedCount(t, planned)
	n0 := count()
	got := hp.raw(sh.query, sh.vars)
	n1 := count()
	want := he.raw(sh.query, sh.vars)
	n2 := count()
	if got.status != want.status || got.mediaType != want.mediaType || canonical(got.raw) != canonical(want.raw) {
		t.Errorf("%s: the plan answered\n  HTTP %d %s %s\nthe executor\n  HTTP %d %s %s", what, got.status, got.mediaType, clip(got.raw), want.status, want.mediaType, clip(want.raw))
		t.Logf("plan:     %s\nexecutor: %s", canonical(got.raw), canonical(want.raw))
		return
	}
	if mustPlan && plannedCount(t, planned) != before+1 {
		t.Errorf("%s: not answered by a plan: %s", what, clip(got.raw))
	}
	if n1-n0 != n2-n1 || n1-n0 > 1 {
		t.Errorf("%s: the plan appended %d ledger entries, the executor %d", what, n1-n0, n2-n1)
		return
	}
	if n1 == n0 {
		return
	}
	pg, err := ledger.Find(ctx, audit.Filter{First: 2})
	if err != nil || len(pg.Entries) != 2 {
		t.Fatalf("ledger: %v, %d entries", err, len(pg.Entries))
	}
	e, p := pg.Entries[0], pg.Entries[1] // newest first: the executor's, then the plan's
	if !slices.Equal(p.Persons, e.Persons) || !slices.Equal(p.Fields, e.Fields) || p.Actor != e.Actor || !slices.Equal(p.Roles, e.Roles) ||
		p.Department != e.Department || p.Purpose != e.Purpose || p.Action != e.Action || p.OperationHash != e.OperationHash {
		t.Errorf("%s: ledger entries differ:\n  plan     %+v\n  executor %+v", what, p, e)
	}
}

// asOf is a section's read time: each request reads the departments anew.
var asOf = regexp.MustCompile(`"asOf":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)

// canonical is a response body with its sections' read times blanked and
// its errors in one order: the executor resolves a list's elements
// concurrently, so the order of their errors varies from one run of the
// same request to the next (and so, past MaxErrors, which ones are shown:
// then only the last error, which counts the rest, is kept). The data and
// the position of "errors" before "data" are kept byte for byte.
func canonical(body []byte) string {
	body = asOf.ReplaceAll(body, []byte(`"asOf":"…"`))
	var r struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &r) != nil || len(r.Errors) == 0 {
		return string(body)
	}
	errs, _ := json.Marshal(r.Errors)
	if len(r.Errors) == server.MaxErrors {
		r.Errors = r.Errors[len(r.Errors)-1:]
	}
	slices.SortFunc(r.Errors, func(a, b json.RawMessage) int { return bytes.Compare(a, b) })
	sorted, _ := json.Marshal(r.Errors)
	return strings.Replace(string(body), string(errs), string(sorted), 1)
}

// plannedCount is how many operations the hub has answered from a plan
// (gridhub_graphql_planned_total{by="plan"} on its /metrics).
func plannedCount(t *testing.T, h *hub) int {
	t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^gridhub_graphql_planned_total\{by="plan"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
