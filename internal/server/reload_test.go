package server_test

import (
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/testcity"
)

// A reload puts a new department in the federation and then the policy that
// knows it in force. A request in between must find the department not
// configured, never configured with every field withheld: before the check,
// the generic path answered a department the request's policy did not know
// with "... is not a shared field of any configured department" on each value.
func TestDepartmentAheadOfThePolicyIsNotConfigured(t *testing.T) {
	fx := testcity.Load(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fedtest.Register()
	fed, err := federation.New(fedtest.AsMemory(depts), federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)
	opts, ledger := hubOptions(t, fx)
	opts.Federation = fed
	// The policy in force was built before the last department came in.
	last := depts[len(depts)-1]
	pol, err := policy.Parse(builtin.Name+"/policy.yaml", builtin.File("policy.yaml"), depts[:len(depts)-1], true)
	if err != nil {
		t.Fatal(err)
	}
	opts.Config = config.NewLive(&config.Config{Departments: depts[:len(depts)-1], Policy: pol})
	h := startHub(t, fx, opts, ledger)

	p := fx.City.Persons[0]
	var out struct {
		Person *struct{ Records []struct{ Name string } }
	}
	errs := h.query(`query($id: String!, $d: String!) { person(idNumber: $id) { records(department: $d) { name records { fields { value } } } } }`,
		map[string]any{"id": p.IDNumber, "d": last.Code}, &out)
	if len(errs) != 1 {
		t.Fatalf("errors = %+v, want one: the department is not configured", errs)
	}
	if code := errs[0].Extensions["code"]; code != "BAD_USER_INPUT" || !strings.Contains(errs[0].Message, "is configured") {
		t.Errorf("error = %s %q, want BAD_USER_INPUT that no such department is configured", code, errs[0].Message)
	}
}
