package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

// hub is a test hub and the caller a test speaks as.
type hub struct {
	t       *testing.T
	srv     *httptest.Server
	fx      *testcity.Fixture
	ledger  *audit.Ledger
	token   string
	purpose string
}

// testKey signs the tests' dev tokens.
var testKey = bytes.Repeat([]byte("k"), 32)

// hubOptions are the options every test hub shares: dev tokens, the built-in
// purpose catalogue over the real department mappings, a real audit ledger.
func hubOptions(t *testing.T, fx *testcity.Fixture) (server.Options, *audit.Ledger) {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("", depts)
	if err != nil {
		t.Fatal(err)
	}
	ledger := audit.New(fx.App.Pool, bytes.Repeat([]byte("c"), audit.MinKeySize))
	t.Cleanup(func() { ledger.Close(context.Background()) })
	return server.Options{
		Store: fx.App, People: people.NewService(fx.App.Pool, fx.Keys), Version: "test",
		Auth: v, Config: config.NewLive(&config.Config{Departments: depts, Policy: pol}), Ledger: ledger,
	}, ledger
}

func newHub(t *testing.T) *hub {
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	return startHub(t, fx, opts, ledger)
}

// startHub serves a hub built from opts; each customize, when given, may
// change opts knowing the hub's address first.
func startHub(t *testing.T, fx *testcity.Fixture, opts server.Options, ledger *audit.Ledger, customize ...func(opts *server.Options, url string)) *hub {
	srv := httptest.NewUnstartedServer(nil)
	for _, c := range customize {
		c(&opts, "http://"+srv.Listener.Addr().String())
	}
	srv.Config.Handler = server.New(opts)
	srv.Start()
	t.Cleanup(srv.Close)
	h := &hub{t: t, srv: srv, fx: fx, ledger: ledger}
	// By default the tests speak as an admin on a home visit: every row, and the
	// identifiers and conditional fields that purpose opens.
	return h.as(auth.Principal{Subject: "test-admin", Roles: []auth.Role{auth.Admin}}).with("home_visit")
}

// as returns the hub speaking as p.
func (h *hub) as(p auth.Principal) *hub {
	h.t.Helper()
	tok, err := auth.DevToken(testKey, p, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	c := *h
	c.token = tok
	return &c
}

// with returns the hub stating purpose ("" for none).
func (h *hub) with(purpose string) *hub {
	c := *h
	c.purpose = purpose
	return &c
}

// post sends a GraphQL request as the hub's caller.
func (h *hub) post(q string, vars map[string]any) *http.Response {
	h.t.Helper()
	return h.postBody(map[string]any{"query": q, "variables": vars})
}

// postBody sends a request body (query, variables, extensions) as the hub's caller.
func (h *hub) postBody(payload map[string]any) *http.Response {
	h.t.Helper()
	body, _ := json.Marshal(payload)
	req, _ := http.NewRequest("POST", h.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if h.purpose != "" {
		req.Header.Set("X-Purpose", h.purpose)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// query posts a GraphQL request and decodes data into out (when not nil).
func (h *hub) query(q string, vars map[string]any, out any) []gqlError {
	h.t.Helper()
	resp := h.post(q, vars)
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		h.t.Fatalf("decode response (HTTP %d): %v", resp.StatusCode, err)
	}
	if out != nil && len(r.Data) > 0 && string(r.Data) != "null" {
		if err := json.Unmarshal(r.Data, out); err != nil {
			h.t.Fatalf("decode data %s: %v", r.Data, err)
		}
	}
	return r.Errors
}

// mustQuery is query that fails the test on any GraphQL error.
func (h *hub) mustQuery(q string, vars map[string]any, out any) {
	h.t.Helper()
	if errs := h.query(q, vars, out); len(errs) > 0 {
		h.t.Fatalf("unexpected errors: %+v", errs)
	}
}

type gridNode struct {
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	Level    string   `json:"level"`
	Kind     *string  `json:"kind"`
	Warnings []string `json:"warnings"`
	Parent   *struct {
		Code string `json:"code"`
	} `json:"parent"`
	Households int `json:"households"`
	Residents  int `json:"residents"`
}

type gridConn struct {
	TotalCount int        `json:"totalCount"`
	Nodes      []gridNode `json:"nodes"`
	PageInfo   struct {
		HasNextPage bool    `json:"hasNextPage"`
		EndCursor   *string `json:"endCursor"`
	} `json:"pageInfo"`
}

func TestCommunitiesOfTongguan(t *testing.T) {
	h := newHub(t)
	var data struct{ Grids gridConn }
	h.mustQuery(`{ grids(level: COMMUNITY, within: "340705", first: 100) {
		totalCount nodes { code name level parent { code } households residents } pageInfo { hasNextPage } } }`, nil, &data)
	if data.Grids.TotalCount != 50 || len(data.Grids.Nodes) != 50 {
		t.Fatalf("got %d communities (totalCount %d), want the 50 real ones", len(data.Grids.Nodes), data.Grids.TotalCount)
	}
	if data.Grids.PageInfo.HasNextPage {
		t.Error("hasNextPage on the last page")
	}
	names := map[string]string{}
	for _, n := range data.Grids.Nodes {
		if len(n.Code) != 12 || !strings.HasPrefix(n.Code, "340705") || n.Level != "COMMUNITY" {
			t.Errorf("community %+v: want a 12-digit COMMUNITY code under 340705", n)
		}
		if n.Parent == nil || !strings.HasPrefix(n.Code, n.Parent.Code) || len(n.Parent.Code) != 9 {
			t.Errorf("community %s: parent %+v is not its township", n.Code, n.Parent)
		}
		names[n.Code] = n.Name
	}
	// Real NBS codes and names.
	if names["340705005002"] != "开源社区居委会" || names["340705006001"] != "临湖社区居委会" {
		t.Errorf("real community names missing: 340705005002=%q 340705006001=%q", names["340705005002"], names["340705006001"])
	}
}

func TestGridsAreFifteenDigitsUnderTheirCommunity(t *testing.T) {
	h := newHub(t)
	var all []gridNode
	var after *string
	for {
		var data struct{ Grids gridConn }
		h.mustQuery(`query($after: String) { grids(level: GRID, within: "340705", first: 100, after: $after) {
			totalCount nodes { code level kind parent { code } households residents warnings } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}, &data)
		all = append(all, data.Grids.Nodes...)
		if !data.Grids.PageInfo.HasNextPage {
			if data.Grids.TotalCount != len(all) {
				t.Fatalf("paged through %d grids, totalCount says %d", len(all), data.Grids.TotalCount)
			}
			break
		}
		after = data.Grids.PageInfo.EndCursor
	}
	want := 0
	for _, u := range h.fx.City.Units {
		if len(u.Code) == 15 {
			want++
		}
	}
	if len(all) != want {
		t.Fatalf("got %d grids, the city has %d", len(all), want)
	}
	seen := map[string]bool{}
	households, residents := 0, 0
	for _, g := range all {
		if seen[g.Code] {
			t.Fatalf("grid %s listed twice across pages", g.Code)
		}
		seen[g.Code] = true
		if len(g.Code) != 15 || g.Parent == nil || g.Parent.Code != g.Code[:12] || g.Kind == nil {
			t.Errorf("grid %+v: want 15 digits, parent = its first 12, a kind", g)
		}
		households += g.Households
		residents += g.Residents
	}
	if residents != len(h.fx.City.Persons) || households != len(h.fx.City.Households) {
		t.Errorf("grids count %d residents and %d households, the city has %d and %d",
			residents, households, len(h.fx.City.Persons), len(h.fx.City.Households))
	}
}

func TestGridArgumentsAreChecked(t *testing.T) {
	h := newHub(t)
	for _, q := range []string{
		`{ grid(code: "34070") { code } }`,
		`{ grid(code: "34070500500A") { code } }`,
		`{ grids(level: GRID, within: "3407x5") { totalCount } }`,
		`{ grids(level: GRID, first: 1000) { totalCount } }`,
		`{ grids(level: GRID, after: "not-a-cursor") { totalCount } }`,
	} {
		errs := h.query(q, nil, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" {
			t.Errorf("%s: got %+v, want one BAD_USER_INPUT error", q, errs)
		}
	}
	var data struct{ Grid *gridNode }
	h.mustQuery(`{ grid(code: "340705999999") { code } }`, nil, &data)
	if data.Grid != nil {
		t.Errorf("unknown code answered %+v, want null", data.Grid)
	}
}

func TestLocateFindsTheGridOfEveryBuilding(t *testing.T) {
	h := newHub(t)
	for i := 0; i < len(h.fx.City.Buildings); i += len(h.fx.City.Buildings)/25 + 1 {
		b := h.fx.City.Buildings[i]
		var data struct{ Locate *gridNode }
		h.mustQuery(`query($lon: Float!, $lat: Float!) { locate(lon: $lon, lat: $lat) { code level } }`,
			map[string]any{"lon": b.Lon, "lat": b.Lat}, &data)
		if data.Locate == nil || data.Locate.Code != b.GridCode {
			t.Errorf("building %d at (%f, %f) in grid %s: locate answered %+v", b.ID, b.Lon, b.Lat, b.GridCode, data.Locate)
		}
	}
	var data struct{ Locate *gridNode }
	h.mustQuery(`{ locate(lon: 0, lat: 0) { code } }`, nil, &data)
	if data.Locate != nil {
		t.Errorf("a point in the Gulf of Guinea is in grid %s", data.Locate.Code)
	}
}

type personNode struct {
	ID        string  `json:"id"`
	IDNumber  string  `json:"idNumber"`
	Name      string  `json:"name"`
	Gender    string  `json:"gender"`
	BirthDate string  `json:"birthDate"`
	Phone     *string `json:"phone"`
	Grid      struct {
		Code string `json:"code"`
	} `json:"grid"`
	Household struct {
		ID      string `json:"id"`
		Members []struct {
			ID string `json:"id"`
		} `json:"members"`
	} `json:"household"`
}

func TestPersonByIDNumber(t *testing.T) {
	h := newHub(t)
	want := h.fx.City.Persons[len(h.fx.City.Persons)/2]
	var data struct{ Person *personNode }
	h.mustQuery(`query($id: String!) { person(idNumber: $id) { id idNumber name gender birthDate grid { code } household { id members { id } } } }`,
		map[string]any{"id": want.IDNumber}, &data)
	p := data.Person
	if p == nil {
		t.Fatal("person not found")
	}
	if p.IDNumber != want.IDNumber || p.Name != want.Name || p.Gender != want.Gender ||
		p.BirthDate != want.BirthDate.Format("2006-01-02") || p.Grid.Code != want.GridCode {
		t.Errorf("person = %+v, want %+v", p, want)
	}
	members := 0
	for _, q := range h.fx.City.Persons {
		if q.HouseholdID == want.HouseholdID {
			members++
		}
	}
	if len(p.Household.Members) != members {
		t.Errorf("household has %d members, the city says %d", len(p.Household.Members), members)
	}

	// Lower-case x and surrounding spaces are the same number.
	var again struct{ Person *personNode }
	h.mustQuery(`query($id: String!) { person(idNumber: $id) { id } }`,
		map[string]any{"id": " " + strings.ToLower(want.IDNumber) + " "}, &again)
	if again.Person == nil || again.Person.ID != p.ID {
		t.Errorf("normalised lookup found %+v, want person %s", again.Person, p.ID)
	}
}

func TestPersonRejectsInvalidIDNumbers(t *testing.T) {
	h := newHub(t)
	valid := h.fx.City.Persons[0].IDNumber
	wrongCheck := valid[:17] + string("10X98765432"[(strings.IndexByte("10X98765432", valid[17])+1)%11])
	badDate := valid[:6] + "19990230123"
	check, _ := ident.ResidentCheckChar(badDate)
	cases := map[string]string{
		"12345":                 "length",
		valid[:17] + "?":        "charset",
		wrongCheck:              "check digit",
		badDate + string(check): "birth date",
	}
	for id, rule := range cases {
		errs := h.query(`query($id: String!) { person(idNumber: $id) { id } }`, map[string]any{"id": id}, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" || errs[0].Extensions["rule"] != rule {
			t.Errorf("idNumber %q: got %+v, want BAD_USER_INPUT with rule %q", id, errs, rule)
			continue
		}
		if strings.Contains(errs[0].Message, valid[6:14]) && len(id) >= 15 {
			t.Errorf("error message repeats the number: %q", errs[0].Message)
		}
	}
	// A valid number nobody holds is null, not an error.
	var data struct{ Person *personNode }
	h.mustQuery(`{ person(idNumber: "11010519491231002X") { id } }`, nil, &data)
	if data.Person != nil {
		t.Errorf("unknown number found %+v", data.Person)
	}
}

func TestPeoplePagesThroughACommunity(t *testing.T) {
	h := newHub(t)
	community := h.fx.City.Persons[0].GridCode[:12]
	want := 0
	for _, p := range h.fx.City.Persons {
		if strings.HasPrefix(p.GridCode, community) {
			want++
		}
	}
	seen := map[string]bool{}
	var after *string
	for pages := 0; ; pages++ {
		var data struct {
			People struct {
				TotalCount int          `json:"totalCount"`
				Nodes      []personNode `json:"nodes"`
				PageInfo   struct {
					HasNextPage bool    `json:"hasNextPage"`
					EndCursor   *string `json:"endCursor"`
				} `json:"pageInfo"`
			}
		}
		h.mustQuery(`query($w: ID!, $after: String) { people(within: $w, first: 37, after: $after) {
			totalCount nodes { id grid { code } household { id } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"w": community, "after": after}, &data)
		if data.People.TotalCount != want {
			t.Fatalf("totalCount = %d, want %d", data.People.TotalCount, want)
		}
		for _, p := range data.People.Nodes {
			if seen[p.ID] {
				t.Fatalf("person %s on two pages", p.ID)
			}
			seen[p.ID] = true
			if !strings.HasPrefix(p.Grid.Code, community) || p.Household.ID == "" {
				t.Errorf("person %+v outside %s or without household", p, community)
			}
		}
		if !data.People.PageInfo.HasNextPage {
			break
		}
		if pages > want {
			t.Fatal("paging does not end")
		}
		after = data.People.PageInfo.EndCursor
	}
	if len(seen) != want {
		t.Errorf("paged through %d persons, want %d", len(seen), want)
	}
}

func TestHouseholdAndOrganization(t *testing.T) {
	h := newHub(t)
	hh := h.fx.City.Households[3]
	var data struct {
		Household *struct {
			Address  string `json:"address"`
			Grid     struct{ Code string }
			Building struct{ Address string }
			Head     *struct{ ID string }
		}
	}
	h.mustQuery(`query($id: ID!) { household(id: $id) { address grid { code } building { address } head { id } } }`,
		map[string]any{"id": hh.ID}, &data)
	if data.Household == nil || data.Household.Address != hh.Address || data.Household.Grid.Code != hh.GridCode ||
		data.Household.Head == nil || data.Household.Head.ID != jsonNumber(hh.HeadID) {
		t.Errorf("household = %+v, want %+v", data.Household, hh)
	}
	if errs := h.query(`{ household(id: "abc") { id } }`, nil, nil); len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("malformed household id: %+v", errs)
	}

	org := h.fx.City.Organizations[0]
	var od struct {
		Organization *struct {
			Name     string
			Kind     string
			Grid     struct{ Code string }
			Warnings []string
		}
	}
	h.mustQuery(`query($c: String!) { organization(creditCode: $c) { name kind grid { code } warnings } }`,
		map[string]any{"c": org.CreditCode}, &od)
	if od.Organization == nil || od.Organization.Name != org.Name || od.Organization.Grid.Code != org.GridCode {
		t.Errorf("organization = %+v, want %+v", od.Organization, org)
	}
	if errs := h.query(`{ organization(creditCode: "IIII") { name } }`, nil, nil); len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("malformed credit code: %+v", errs)
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestReadyzWaitsForMigrations(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, devenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	opts, _ := hubOptions(t, &testcity.Fixture{Store: st, App: st})
	h := server.New(opts)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz before migrations = %d, want 503", code)
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz = %d, want 200", code)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if code := get("/readyz"); code != http.StatusOK {
		t.Errorf("readyz after migrations = %d, want 200", code)
	}
	// A hub on its way out: not ready, still alive and answering.
	h.Drain()
	if code := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining = %d, want 503", code)
	}
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz while draining = %d, want 200", code)
	}
}
