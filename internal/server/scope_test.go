package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/graph"

	"github.com/gridhub/gridhub/graph/generated"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/synth"
)

// scopeArgs are the arguments (and input fields) that name a person, a
// household, an organisation, a submission or an area: every query and
// mutation taking one must be walked below.
var scopeArgs = []string{"idNumber", "id", "creditCode", "subject", "within", "submission"}

// TestScopeOnEveryPath walks every query and mutation that takes a person,
// household, organisation or submission with three subjects: one in the
// caller's scope, one outside it, one that does not exist. Out of scope and
// missing must answer byte for byte alike (the surrogate ids are dense: any
// difference maps which exist city-wide), and in scope must answer
// otherwise. A new field taking such an argument fails the test until it is
// walked here.
func TestScopeOnEveryPath(t *testing.T) {
	h, _ := newPagesHub(t)
	city := h.fx.City
	in := city.Persons[0]
	var out synth.Person
	for _, p := range city.Persons {
		if p.GridCode[:9] != in.GridCode[:9] {
			out = p
			break
		}
	}
	if out.ID == 0 {
		t.Fatal("no person outside the first person's township")
	}
	missingID := strconv.FormatInt(maxPersonID(city)+7, 10)
	missingNumber := unusedIDNumber(t, city)
	orgIn, orgOut := orgOfGrid(city, in.GridCode), ""
	for _, o := range city.Organizations {
		if o.GridCode[:9] != in.GridCode[:9] {
			orgOut = o.CreditCode
			break
		}
	}
	householdOf := func(p synth.Person) string { return strconv.FormatInt(p.HouseholdID, 10) }
	missingHousehold := strconv.FormatInt(int64(len(city.Households))+100, 10)

	// A submission about the person outside the caller's scope, made by an
	// admin, to probe submission(id) with.
	var sub struct {
		Data struct {
			SubmitReport struct{ ID string }
		}
	}
	h.mustQuery(`mutation($s: ID!) { submitReport(input: {template: "home_visit", version: 1, subject: $s, idempotencyKey: "scope-walk-0001",
		values: [{field: "core.person.residence", value: "RESIDENT"}, {field: "core.person.phone", value: "13800000000"}]}) { id } }`,
		map[string]any{"s": strconv.FormatInt(out.ID, 10)}, &sub)
	missingSubmission := "999999999"

	// The daily work of both grids, recorded by an admin: a patrol, a diary
	// entry, an event.
	missingGrid := in.GridCode[:12] + "999"
	var evIn, evOut struct {
		Data struct {
			ReportEvent struct{ ID string }
		}
	}
	for i, p := range []synth.Person{in, out} {
		at := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		h.mustQuery(`mutation($g: ID!, $t: Time!, $k: String!) { recordPatrol(input: {grid: $g, startedAt: $t, idempotencyKey: $k}) { id } }`,
			map[string]any{"g": p.GridCode, "t": at, "k": fmt.Sprintf("scope-patrol-%d", i)}, nil)
		h.mustQuery(`mutation($g: ID!, $t: Time!, $k: String!) { recordDiaryEntry(input: {grid: $g, visitedAt: $t, category: "OTHER", heard: "x", idempotencyKey: $k}) { id } }`,
			map[string]any{"g": p.GridCode, "t": at, "k": fmt.Sprintf("scope-entry-%d", i)}, nil)
		lon, lat := pointOf(city, p)
		dst := &evIn
		if i == 1 {
			dst = &evOut
		}
		h.mustQuery(`mutation($lon: Float!, $lat: Float!, $k: String!) { reportEvent(input: {kind: "EVENT", category: "暴露垃圾", description: "x",
			lon: $lon, lat: $lat, idempotencyKey: $k}) { id } }`, map[string]any{"lon": lon, "lat": lat, "k": fmt.Sprintf("scope-event-%d", i)}, &dst.Data)
	}
	missingEvent := "00000000-0000-4000-8000-000000000000"

	walks := []struct {
		field         string // Query.x or Mutation.x
		query         string
		in, out, miss map[string]any
	}{
		{"Query.person", `query($v: String!) { person(idNumber: $v) { id name } }`,
			vars("v", in.IDNumber), vars("v", out.IDNumber), vars("v", missingNumber)},
		{"Query.household", `query($v: ID!) { household(id: $v) { id address } }`,
			vars("v", householdOf(in)), vars("v", householdOf(out)), vars("v", missingHousehold)},
		{"Query.organization", `query($v: String!) { organization(creditCode: $v) { id name } }`,
			vars("v", orgIn), vars("v", orgOut), vars("v", unusedCreditCode(t, city))},
		{"Query.people", `query($v: ID!) { people(within: $v, first: 5) { totalCount nodes { id } } }`,
			vars("v", in.GridCode), vars("v", out.GridCode), vars("v", in.GridCode[:12]+"999")},
		{"Query.reportDraft", `query($v: ID!) { reportDraft(template: "home_visit", subject: $v) { subject } }`,
			vars("v", strconv.FormatInt(in.ID, 10)), vars("v", strconv.FormatInt(out.ID, 10)), vars("v", missingID)},
		{"Mutation.submitReport", `mutation($v: ID!) { submitReport(input: {template: "home_visit", version: 1, subject: $v, idempotencyKey: "scope-walk-X",
			values: [{field: "core.person.residence", value: "RESIDENT"}]}) { id } }`,
			vars("v", strconv.FormatInt(in.ID, 10)), vars("v", strconv.FormatInt(out.ID, 10)), vars("v", missingID)},
		{"Query.submission", `query($v: ID!) { submission(id: $v) { id status } }`,
			nil, vars("v", sub.Data.SubmitReport.ID), vars("v", missingSubmission)},
		{"Query.patrols", `query($v: ID!) { patrols(within: $v) { totalCount nodes { id gridCode } } }`,
			vars("v", in.GridCode), vars("v", out.GridCode), vars("v", missingGrid)},
		{"Query.diaryEntries", `query($v: ID!) { diaryEntries(within: $v) { totalCount nodes { id heard } } }`,
			vars("v", in.GridCode), vars("v", out.GridCode), vars("v", missingGrid)},
		{"Query.gridEvents", `query($v: ID!) { gridEvents(within: $v) { totalCount nodes { id gridCode } } }`,
			vars("v", in.GridCode), vars("v", out.GridCode), vars("v", missingGrid)},
		{"Query.gridEvent", `query($v: ID!) { gridEvent(id: $v) { id gridCode } }`,
			vars("v", evIn.Data.ReportEvent.ID), vars("v", evOut.Data.ReportEvent.ID), vars("v", missingEvent)},
		{"Mutation.recordPatrol", `mutation($v: ID!) { recordPatrol(input: {grid: $v, startedAt: "2020-01-01T00:00:00Z", idempotencyKey: "scope-walk-patrol"}) { id } }`,
			nil, vars("v", out.GridCode), vars("v", missingGrid)},
	}

	// Every query and mutation taking a scoped argument is walked.
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	walked := map[string]bool{}
	for _, w := range walks {
		walked[w.field] = true
	}
	// Arguments of fields only some roles may use, whose own rule is not row
	// scope: the auditor's ledger (by person), the admin's redelivery, and
	// areas (grids, indicators) that are units, visible as units to all.
	exempt := []string{"Query.auditLog", "Mutation.redeliver", "Query.grid", "Query.grids", "Query.indicators",
		// A drafted template's id names a template, not a record.
		"Mutation.draftReportTemplate",
		// 考核 takes the indicators' area scope: TestAssessmentQueryAndCSV.
		"Query.assessment",
		// Review candidates need linked rows: TestReviewFlowEndToEnd walks
		// them in scope, out of scope, of another department and missing.
		"Query.linkCandidates", "Mutation.confirmLink", "Mutation.rejectLink",
		// Findings need stored findings: TestFindingsQueryScopePurposeDraftAndCounts
		// walks them in scope, within another community and city-wide.
		"Query.findings",
		// The series shares the indicators' scope rule: TestTrendsScope.
		"Query.indicatorSeries"}
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
		for _, f := range root.Fields {
			name := root.Name + "." + f.Name
			if takesScoped(schema, f) && !walked[name] && !slices.Contains(exempt, name) {
				t.Errorf("%s takes a person, household, organisation or area but is not walked by this test", name)
			}
		}
	}

	worker := h.as(auth.Principal{Subject: "scope-worker", Roles: []auth.Role{auth.GridWorker}, Scope: []string{in.GridCode}}).with("")
	for _, w := range walks {
		outAns, missAns := worker.raw(w.query, w.out), worker.raw(w.query, w.miss)
		if string(outAns.raw) != string(missAns.raw) {
			t.Errorf("LEAK %s: out of scope and missing answer differently:\n out:  %s\n miss: %s", w.field, clip(outAns.raw), clip(missAns.raw))
		}
		if w.in != nil {
			inAns := worker.raw(w.query, w.in)
			if string(inAns.raw) == string(outAns.raw) {
				t.Errorf("%s: in scope answers as out of scope: %s", w.field, clip(inAns.raw))
			}
		}
	}
}

func vars(k, v string) map[string]any { return map[string]any{k: v} }

// pointOf is the place of a person's building: a point in their grid.
func pointOf(city *synth.City, p synth.Person) (lon, lat float64) {
	for _, hh := range city.Households {
		if hh.ID == p.HouseholdID {
			return buildingOf(city, hh)
		}
	}
	return 0, 0
}

// takesScoped tells whether a field has an argument, or an input field of
// an argument, that names a scoped record or area.
func takesScoped(schema *ast.Schema, f *ast.FieldDefinition) bool {
	for _, a := range f.Arguments {
		if slices.Contains(scopeArgs, a.Name) {
			return true
		}
		if def := schema.Types[a.Type.Name()]; def != nil && def.Kind == ast.InputObject {
			for _, in := range def.Fields {
				if slices.Contains(scopeArgs, in.Name) {
					return true
				}
			}
		}
	}
	return false
}

func maxPersonID(city *synth.City) int64 {
	var m int64
	for _, p := range city.Persons {
		m = max(m, p.ID)
	}
	return m
}

// unusedIDNumber is a valid resident ID number nobody in the city holds.
func unusedIDNumber(t *testing.T, city *synth.City) string {
	t.Helper()
	held := map[string]bool{}
	for _, p := range city.Persons {
		held[p.IDNumber] = true
	}
	for seq := 1; seq < 999; seq++ {
		first17 := fmt.Sprintf("34070519700101%03d", seq)
		c, err := ident.ResidentCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		if n := first17 + string(c); !held[n] {
			return n
		}
	}
	t.Fatal("no unused ID number")
	return ""
}

// unusedCreditCode is a credit code of the city's form that no organisation
// holds.
func unusedCreditCode(t *testing.T, city *synth.City) string {
	t.Helper()
	held := map[string]bool{}
	for _, o := range city.Organizations {
		held[o.CreditCode] = true
	}
	for seq := 0; seq < 1000; seq++ {
		first17 := "91340705" + strings.Repeat("0", 6) + fmt.Sprintf("%03d", seq)
		c, err := ident.CreditCodeCheckChar(first17)
		if err != nil {
			t.Fatal(err)
		}
		if n := first17 + string(c); !held[n] {
			return n
		}
	}
	t.Fatal("no unused credit code")
	return ""
}

// The whole city's figures in one request: within may be the city's own
// code or be left out, for the callers whose scope is the whole city.
func TestIndicatorsOfTheWholeCity(t *testing.T) {
	h, _ := newPagesHub(t)
	const q = `query($w: ID) { indicators(level: DISTRICT, within: $w, names: ["residents"]) { rows { unit { code } } totals { value } } }`
	type answer struct {
		Indicators *struct {
			Rows   []struct{ Unit struct{ Code string } }
			Totals []struct{ Value *float64 }
		}
	}
	city := h.fx.City.Persons[0].GridCode[:4]
	admin := h.as(auth.Principal{Subject: "city-admin", Roles: []auth.Role{auth.Admin}}).with("")
	bi := h.as(auth.Principal{Subject: "city-bi", Roles: []auth.Role{auth.BIReader}}).with("")
	var omitted, named answer
	if errs := admin.query(q, map[string]any{}, &omitted); len(errs) > 0 {
		t.Fatalf("no within: %+v", errs)
	}
	bi.mustQuery(q, map[string]any{"w": city}, &named)
	if omitted.Indicators == nil || len(omitted.Indicators.Rows) == 0 || omitted.Indicators.Totals[0].Value == nil {
		t.Fatalf("the whole city without within: %+v", omitted)
	}
	if a, b := fmt.Sprintf("%+v %v", omitted.Indicators.Rows, *omitted.Indicators.Totals[0].Value),
		fmt.Sprintf("%+v %v", named.Indicators.Rows, *named.Indicators.Totals[0].Value); a != b {
		t.Errorf("within %s differs from no within:\n%s\n%s", city, a, b)
	}
	street := h.as(auth.Principal{Subject: "street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{h.fx.City.Persons[0].GridCode[:9]}}).with("")
	for _, tc := range []struct {
		who    *hub
		within any
		code   string
	}{
		{street, nil, "FORBIDDEN"},
		{street, city, "FORBIDDEN"},
		{admin, "1101", "NOT_FOUND"},
		{admin, "340", "BAD_USER_INPUT"},
	} {
		errs := tc.who.query(q, map[string]any{"w": tc.within}, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != tc.code {
			t.Errorf("within %v: errors %+v, want %s", tc.within, errs, tc.code)
		}
	}
}

// A query asking for nothing but an indicator table is answered the second
// time from the bytes of the first, while the data stays as it was; the
// caller's right to the figures is checked each time, and a new data version
// writes the answer anew.
func TestIndicatorAnswersAreKept(t *testing.T) {
	h, _ := newPagesHub(t)
	const q = `query($w: ID) { indicators(level: COMMUNITY, within: $w) { rows { unit { code name } values { name value suppressed } } totals { value } } }`
	city := h.fx.City.Persons[0].GridCode[:4]
	vars := map[string]any{"w": city}
	admin := h.as(auth.Principal{Subject: "city-admin", Roles: []auth.Role{auth.Admin}}).with("")
	street := h.as(auth.Principal{Subject: "street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{h.fx.City.Persons[0].GridCode[:9]}}).with("")
	kept := func() float64 { return testutil.ToFloat64(graph.IndicatorAnswersServed.WithLabelValues("kept")) }
	written := func() float64 { return testutil.ToFloat64(graph.IndicatorAnswersServed.WithLabelValues("encoded")) }
	body := func(h *hub) string {
		resp := h.post(q, vars)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	k0, w0 := kept(), written()
	first, second := body(admin), body(admin)
	if !strings.Contains(first, `"rows":[{`) || strings.Contains(first, `"errors"`) {
		t.Fatalf("first answer: %.300s", first)
	}
	if first != second {
		t.Errorf("the kept answer differs from the written one:\n%.300s\n%.300s", first, second)
	}
	if k, w := kept()-k0, written()-w0; k != 1 || w != 1 {
		t.Errorf("two equal queries: %v kept, %v written; want 1 and 1", k, w)
	}

	// The answer is kept, but a street admin may not have the city's figures.
	if errs := street.query(q, vars, nil); len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("street admin, the city's kept answer: errors %+v, want FORBIDDEN", errs)
	}
	if k := kept() - k0; k != 1 {
		t.Errorf("the street admin was served a kept answer (%v kept)", k)
	}

	if _, err := h.fx.Store.Pool.Exec(context.Background(), `UPDATE fact_meta SET data_version = data_version + 1`); err != nil {
		t.Fatal(err)
	}
	if third := body(admin); third != first {
		t.Errorf("same data, new version: answer differs:\n%.300s\n%.300s", first, third)
	}
	if w := written() - w0; w != 2 {
		t.Errorf("after a new data version: %v written, want 2", w)
	}
}

// An indicator table written in one pass is byte for byte the answer the
// GraphQL executor writes: the same query with a second root field
// (__typename) goes through the executor, and the two indicators values
// must be equal, for aliases, fragments, @skip and @include, __typename at
// every level, nullable fields, and every field of the table.
func TestIndicatorAnswersEncodedAsTheExecutor(t *testing.T) {
	h, _ := newPagesHub(t)
	admin := h.as(auth.Principal{Subject: "city-admin", Roles: []auth.Role{auth.Admin}}).with("")
	street := h.fx.City.Persons[0].GridCode[:9]
	encoded := func() float64 { return testutil.ToFloat64(graph.IndicatorAnswersServed.WithLabelValues("encoded")) }
	for _, tc := range []struct {
		name, sel string
		vars      map[string]any
	}{
		{"every field", `(level: GRID) { __typename level within names rows { __typename unit { __typename code name level } values { __typename name value suppressed } } totals { name value suppressed } asOf { __typename department at } }`, nil},
		{"within a street", `(level: COMMUNITY, within: "` + street + `", names: ["residents", "dibaoPersons", "tekunPersons"]) { level within names rows { unit { code } values { value suppressed } } totals { value } }`, nil},
		{"aliases and repeats", `(level: TOWNSHIP) { l: level level lines: rows { u: unit { c: code code } v: values { n: name value value } } t: totals { s: suppressed } }`, nil},
		{"fragments", `(level: TOWNSHIP) { ...T } } fragment T on IndicatorTable { rows { ...R unit { name } } } fragment R on IndicatorRow { unit { code } values { ... on IndicatorValue { name value } } `, nil},
		{"skip and include", `(level: DISTRICT) { level @skip(if: $yes) names @include(if: $yes) rows { unit { code @include(if: false) name } values { value @skip(if: true) suppressed } } }`, map[string]any{"yes": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decl := ""
			if tc.vars != nil {
				decl = "($yes: Boolean!)"
			}
			one := `query` + decl + ` { indicators` + tc.sel + ` }`
			two := `query` + decl + ` { __typename indicators` + tc.sel + ` }`
			data := func(q string) (map[string]json.RawMessage, string) {
				resp := admin.post(q, tc.vars)
				defer resp.Body.Close()
				var body struct {
					Data   map[string]json.RawMessage `json:"data"`
					Errors json.RawMessage            `json:"errors"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatal(err)
				}
				return body.Data, string(body.Errors)
			}
			e0 := encoded()
			a, errA := data(one)
			if e := encoded() - e0; e != 1 {
				t.Errorf("%v answers written in one pass, want 1", e)
			}
			b, errB := data(two)
			if errA != "" || errB != "" {
				t.Fatalf("errors: %s / %s", errA, errB)
			}
			if len(a["indicators"]) < 10 || string(a["indicators"]) != string(b["indicators"]) {
				t.Errorf("one pass:\n%.600s\nexecutor:\n%.600s", a["indicators"], b["indicators"])
			}
		})
	}
}
