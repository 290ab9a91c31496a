package server_test

import (
	"testing"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/testcity"
)

// newFederatedHub serves the test city with the six real department mappings,
// each answered by an in-memory source that counts its calls.
func newFederatedHub(t *testing.T) (*hub, map[string]*fedtest.Source) {
	fx := testcity.Load(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fedtest.Register()
	depts = fedtest.AsMemory(depts)
	fed, err := federation.New(depts, federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)
	sources := map[string]*fedtest.Source{}
	for _, d := range depts {
		sources[d.Code] = fedtest.SourceFor(d.Code)
	}
	opts, ledger := hubOptions(t, fx)
	opts.Federation = fed
	return startHub(t, fx, opts, ledger), sources
}

const allSections = `civilAffairs { dibao { amount since status } tekun { careMode } elderlyAllowance { band } disability { grade } source { department asOf stale } }
	health { floating { inflowDate } marriage { maritalStatus } births { birthDate } source { department stale asOf } }
	employment { unemployment { status } hardship { category } certificate { issuedOn } assistance { kind } source { department stale asOf } }
	socialSecurity { pension { scheme status } medical { status } source { department stale asOf } }
	party { membership { category joinedOn } source { department stale asOf } }
	urbanCases { cases { caseNumber stage } source { department stale asOf } }`

func TestPageOfPeopleCostsOneCallPerDepartment(t *testing.T) {
	h, sources := newFederatedHub(t)
	community := h.fx.City.Persons[0].GridCode[:9] // a township: enough people for a full page
	var data struct {
		People struct {
			Nodes []struct {
				ID           string
				CivilAffairs *struct {
					Dibao  *struct{ Amount float64 }
					Source struct{ Department string }
				}
				Party *struct {
					Membership *struct{ Category string }
				}
				UrbanCases *struct {
					Cases []struct{ CaseNumber string }
				}
			}
		}
	}
	h.mustQuery(`query($w: ID!) { people(within: $w, first: 100) { nodes { id `+allSections+` } } }`,
		map[string]any{"w": community[:6]}, &data)
	if n := len(data.People.Nodes); n != 100 {
		t.Fatalf("page has %d persons, want 100", n)
	}
	for _, p := range data.People.Nodes {
		if p.CivilAffairs == nil || p.CivilAffairs.Dibao == nil || p.CivilAffairs.Source.Department != "civil_affairs" ||
			p.Party == nil || p.Party.Membership == nil || p.UrbanCases == nil || len(p.UrbanCases.Cases) != 2 {
			t.Fatalf("person %s: sections not filled: %+v", p.ID, p)
		}
	}
	if len(sources) != 6 {
		t.Fatalf("%d departments configured, want 6", len(sources))
	}
	for code, src := range sources {
		if src.Calls() != 1 || src.Keys() != 100 {
			t.Errorf("%s: %d calls for %d keys, want 1 call for 100 keys", code, src.Calls(), src.Keys())
		}
	}
}

func TestDepartmentDownLeavesTheRestStanding(t *testing.T) {
	h, sources := newFederatedHub(t)
	ids := []string{h.fx.City.Persons[10].IDNumber, h.fx.City.Persons[11].IDNumber}
	query := `query($a: String!, $b: String!) { a: person(idNumber: $a) { name ` + allSections + ` } b: person(idNumber: $b) { name ` + allSections + ` } }`
	vars := map[string]any{"a": ids[0], "b": ids[1]}

	// A first read while everything is up leaves a recent copy of person a only.
	h.mustQuery(`query($a: String!) { person(idNumber: $a) { `+allSections+` } }`, map[string]any{"a": ids[0]}, nil)

	sources["employment"].Set(fedtest.Down)
	type section struct {
		Source struct {
			Department string
			Stale      bool
		}
	}
	var data struct {
		A, B struct {
			Name         string
			CivilAffairs *section
			Employment   *section
		}
	}
	errs := h.query(query, vars, &data)
	if data.A.Name == "" || data.B.CivilAffairs == nil || data.B.CivilAffairs.Source.Stale {
		t.Fatalf("the other sections did not stand: %+v", data)
	}
	if data.B.Employment != nil {
		t.Errorf("person b has an employment section with the department down and no copy: %+v", data.B.Employment)
	}
	if data.A.Employment == nil || !data.A.Employment.Source.Stale {
		t.Errorf("person a's employment should be the stale copy: %+v", data.A.Employment)
	}
	unavailable := 0
	for _, e := range errs {
		if e.Extensions["code"] != "DEPARTMENT_UNAVAILABLE" || e.Extensions["department"] != "employment" {
			t.Errorf("unexpected error %+v", e)
			continue
		}
		if len(e.Path) != 2 || e.Path[1] != "employment" {
			t.Errorf("error path %v, want [a|b employment]", e.Path)
		}
		unavailable++
	}
	if unavailable != 2 {
		t.Errorf("%d DEPARTMENT_UNAVAILABLE errors, want one per person: %+v", unavailable, errs)
	}
}

func TestDepartmentsQuery(t *testing.T) {
	h, sources := newFederatedHub(t)
	sources["party_building"].Set(fedtest.Down)
	h.mustQuery(`query($a: String!) { person(idNumber: $a) { name } }`, map[string]any{"a": h.fx.City.Persons[0].IDNumber}, nil)
	h.query(`query($a: String!) { person(idNumber: $a) { party { source { department stale asOf } } } }`, map[string]any{"a": h.fx.City.Persons[0].IDNumber}, nil)
	var data struct {
		Departments []struct {
			Code, Name, Kind, Breaker string
			Healthy                   bool
			LastError                 *string
			RecordSets                []struct{ Name, Entity string }
		}
	}
	h.mustQuery(`{ departments { code name kind healthy breaker lastError recordSets { name entity } } }`, nil, &data)
	if len(data.Departments) != 6 {
		t.Fatalf("departments = %+v", data.Departments)
	}
	for _, d := range data.Departments {
		down := d.Code == "party_building"
		if d.Healthy == down || (down && d.LastError == nil) || len(d.RecordSets) == 0 || d.Breaker != "closed" {
			t.Errorf("department %+v: healthy should be %t", d, !down)
		}
	}
}
