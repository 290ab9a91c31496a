package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/auth"
)

func TestEveryPersonReadLeavesOneLedgerEntry(t *testing.T) {
	h, _ := newFederatedHub(t)
	p := h.fx.City.Persons[7]
	officer := h.as(auth.Principal{Subject: "officer-7", Roles: []auth.Role{auth.DeptOfficer}, Department: "civil_affairs"}).with("dibao_review")
	officer.mustQuery(`query Look($id: String!) { person(idNumber: $id) { name idNumber civilAffairs { dibao { amount } } } }`,
		map[string]any{"id": p.IDNumber}, nil)
	// A query that reads no person leaves no entry.
	officer.mustQuery(`{ grids(level: COMMUNITY, within: "340705", first: 3) { totalCount } }`, nil, nil)

	auditor := h.as(auth.Principal{Subject: "auditor-1", Roles: []auth.Role{auth.Auditor}}).with("")
	var data struct {
		AuditLog struct {
			TotalCount int
			Nodes      []struct {
				Seq, Actor, Action, Department, Purpose, OperationHash, Hash, PrevHash string
				Roles, Persons, Fields                                                 []string
			}
		}
	}
	auditor.mustQuery(`query($p: ID!) { auditLog(person: $p) { totalCount nodes {
		seq actor action department purpose roles persons fields operationHash hash prevHash } } }`,
		map[string]any{"p": p.IDNumber}, &data)
	if data.AuditLog.TotalCount != 1 || len(data.AuditLog.Nodes) != 1 {
		t.Fatalf("ledger for the person = %+v, want exactly one entry", data.AuditLog)
	}
	e := data.AuditLog.Nodes[0]
	if e.Actor != "officer-7" || e.Action != "read" || e.Department != "civil_affairs" || e.Purpose != "dibao_review" ||
		!slices.Equal(e.Roles, []string{"dept_officer"}) || len(e.Persons) != 1 || len(e.OperationHash) != 64 || len(e.Hash) != 64 {
		t.Errorf("entry = %+v", e)
	}
	for _, f := range []string{"Person.name", "Person.idNumber", "civil_affairs.dibao.amount"} {
		if !slices.Contains(e.Fields, f) {
			t.Errorf("entry fields %v lack %s", e.Fields, f)
		}
	}
	raw, _ := json.Marshal(data)
	if strings.Contains(string(raw), p.IDNumber) {
		t.Error("the ledger holds a resident ID number in clear")
	}

	// Only auditors (and admins) read the ledger.
	worker := h.as(auth.Principal{Subject: "w", Roles: []auth.Role{auth.GridWorker}, Scope: []string{p.GridCode}}).with("")
	errs := worker.query(`{ auditLog { totalCount } }`, nil, nil)
	if len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("a grid worker reading the ledger: %+v, want FORBIDDEN", errs)
	}
	rep, err := h.ledger.Verify(context.Background())
	if err != nil || rep.Broken != nil {
		t.Fatalf("chain after the reads: %+v, %v", rep, err)
	}
}
