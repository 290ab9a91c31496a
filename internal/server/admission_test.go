package server_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/synth"
)

// personsOfStreets picks a resident in each of n different streets.
func personsOfStreets(t *testing.T, city *synth.City, n int) []synth.Person {
	t.Helper()
	var out []synth.Person
	for _, p := range city.Persons {
		if !slices.ContainsFunc(out, func(q synth.Person) bool { return q.GridCode[:9] == p.GridCode[:9] }) {
			out = append(out, p)
			if len(out) == n {
				return out
			}
		}
	}
	t.Fatalf("the test city has fewer than %d streets", n)
	return nil
}

const (
	draftTemplate = `mutation($in: DraftReportTemplateInput!) { draftReportTemplate(input: $in) {
		id version department step streets { street decision } fields { field required } } }`
	submitTemplate  = `mutation($id: ID!, $v: Int!) { submitReportTemplate(template: $id, version: $v) { id version step } }`
	approveTemplate = `mutation($id: ID!, $v: Int!, $s: ID!) { approveReportTemplate(template: $id, version: $v, street: $s) { streets { street decision } } }`
	rejectTemplate  = `mutation($id: ID!, $v: Int!, $s: ID!, $r: String!) { rejectReportTemplate(template: $id, version: $v, street: $s, reason: $r) { streets { street decision reason } } }`
	offered         = `{ reportTemplates { id version } }`
	submitDrafted   = `mutation($s: ID!, $v: Int!, $k: String!) { submitReport(input: {template: "dibao_visit", version: $v, subject: $s, idempotencyKey: $k,
		values: [{field: "core.person.residence", value: "RESIDENT"}, {field: "civil_affairs.visit.note", value: "走访核实低保家庭情况"}]}) { id status } }`
)

// 准入: a department drafts a template for two streets and submits it; one
// street approves it, the other rejects it with a reason; only the
// approving street's communities are offered it and may file it; a new
// version is approved anew; every step out of order, and a decision by a
// street the template does not target, is refused with a code; every step
// is in the access ledger.
func TestTemplateAdmission(t *testing.T) {
	h, _ := newPagesHub(t)
	ctx := context.Background()
	ps := personsOfStreets(t, h.fx.City, 3)
	a, b, c := ps[0], ps[1], ps[2]
	sa, sb, sc := a.GridCode[:9], b.GridCode[:9], c.GridCode[:9]
	officer := h.as(auth.Principal{Subject: "mz-officer", Roles: []auth.Role{auth.DeptOfficer}, Department: "civil_affairs"}).with("")
	street := func(code string) *hub {
		return h.as(auth.Principal{Subject: "jd-" + code, Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{code}}).with("")
	}
	community := func(p synth.Person) *hub {
		return h.as(auth.Principal{Subject: "sq-" + p.GridCode[:12], Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{p.GridCode[:12]}}).with("")
	}
	expect := func(what string, errs []gqlError, code, rule string) {
		t.Helper()
		if len(errs) != 1 || errs[0].Extensions["code"] != code || rule != "" && errs[0].Extensions["rule"] != rule {
			t.Errorf("%s: %+v, want %s %s", what, errs, code, rule)
		}
	}
	sections := []map[string]any{{"title": "走访", "fields": []map[string]any{
		{"field": "core.person.residence", "required": true}, {"field": "civil_affairs.visit.note"}}}}
	in := map[string]any{"id": "dibao_visit", "title": "低保家庭走访核查", "streets": []string{sa, sb}, "sections": sections}

	// Drafting: a department's own and core fields only; no one else drafts.
	bad := map[string]any{"id": "dibao_visit", "title": "x", "streets": []string{sa}, "sections": []map[string]any{{"title": "x",
		"fields": []map[string]any{{"field": "health.marriage.children"}}}}}
	expect("another department's field", officer.query(draftTemplate, map[string]any{"in": bad}, nil), "BAD_USER_INPUT", "department")
	expect("a street drafts", street(sa).query(draftTemplate, map[string]any{"in": in}, nil), "FORBIDDEN", "")
	var d struct {
		DraftReportTemplate struct {
			Version int
			Step    string
			Fields  []struct{ Field string }
		}
	}
	officer.mustQuery(draftTemplate, map[string]any{"in": in}, &d)
	if d.DraftReportTemplate.Version != 1 || d.DraftReportTemplate.Step != "DRAFT" || len(d.DraftReportTemplate.Fields) != 2 {
		t.Fatalf("draft: %+v", d.DraftReportTemplate)
	}

	// Out of order: a decision on a draft.
	expect("approval of a draft", street(sa).query(approveTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sa}, nil), "BAD_USER_INPUT", "order")
	officer.mustQuery(submitTemplate, map[string]any{"id": "dibao_visit", "v": 1}, nil)
	expect("submitted twice", officer.query(submitTemplate, map[string]any{"id": "dibao_visit", "v": 1}, nil), "BAD_USER_INPUT", "order")
	// A street the template does not target; a street not the caller's.
	expect("a street not targeted", street(sc).query(approveTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sc}, nil), "BAD_USER_INPUT", "not_targeted")
	expect("another street's decision", street(sa).query(approveTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sb}, nil), "FORBIDDEN", "")
	expect("a rejection without reason", street(sb).query(rejectTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sb, "r": " "}, nil), "BAD_USER_INPUT", "required")

	street(sa).mustQuery(approveTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sa}, nil)
	street(sb).mustQuery(rejectTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sb, "r": "与民政季度走访表重复，增加社区负担"}, nil)
	expect("decided twice", street(sa).query(approveTemplate, map[string]any{"id": "dibao_visit", "v": 1, "s": sa}, nil), "BAD_USER_INPUT", "decided")

	// Offered and filed in the approving street only.
	type tv struct {
		ID      string
		Version int
	}
	offers := func(who *hub, id string, version int) bool {
		var o struct{ ReportTemplates []tv }
		who.mustQuery(offered, nil, &o)
		return slices.Contains(o.ReportTemplates, tv{id, version})
	}
	has := func(who *hub, version int) bool { return offers(who, "dibao_visit", version) }
	if !has(community(a), 1) || has(community(b), 1) {
		t.Errorf("offered: street A %t, street B %t; want only A", has(community(a), 1), has(community(b), 1))
	}
	if !offers(community(b), "home_visit", 1) {
		t.Error("home_visit, a configured template, is not offered in street B")
	}
	sid := func(p synth.Person) string { return strconv.FormatInt(p.ID, 10) }
	community(a).mustQuery(`query($s: ID!) { reportDraft(template: "dibao_visit", subject: $s) { version } }`, map[string]any{"s": sid(a)}, nil)
	community(a).mustQuery(submitDrafted, map[string]any{"s": sid(a), "v": 1, "k": "admission-a-1"}, nil)
	expect("filing a rejected template", community(b).query(submitDrafted, map[string]any{"s": sid(b), "v": 1, "k": "admission-b-1"}, nil), "BAD_USER_INPUT", "not_approved")
	expect("a draft of a rejected template", community(b).query(`query($s: ID!) { reportDraft(template: "dibao_visit", subject: $s) { version } }`,
		map[string]any{"s": sid(b)}, nil), "BAD_USER_INPUT", "not_approved")

	// A second version: approved anew; until then street A keeps version 1.
	var d2 struct{ DraftReportTemplate struct{ Version int } }
	officer.mustQuery(draftTemplate, map[string]any{"in": in}, &d2)
	if d2.DraftReportTemplate.Version != 2 {
		t.Fatalf("the next draft is version %d", d2.DraftReportTemplate.Version)
	}
	officer.mustQuery(submitTemplate, map[string]any{"id": "dibao_visit", "v": 2}, nil)
	expect("filing version 2 before its approval", community(a).query(submitDrafted, map[string]any{"s": sid(a), "v": 2, "k": "admission-a-2"}, nil), "BAD_USER_INPUT", "not_approved")
	if !has(community(a), 1) {
		t.Error("street A lost version 1 before approving version 2")
	}
	street(sa).mustQuery(approveTemplate, map[string]any{"id": "dibao_visit", "v": 2, "s": sa}, nil)
	if !has(community(a), 2) {
		t.Error("version 2 is not offered in street A once approved")
	}
	expect("filing the superseded version", community(a).query(submitDrafted, map[string]any{"s": sid(a), "v": 1, "k": "admission-a-3"}, nil), "BAD_USER_INPUT", "retired")

	// Nothing of the refused filings is stored; every step is in the ledger.
	var subs, steps int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM report_submissions WHERE template = 'dibao_visit'),
		(SELECT count(*) FROM audit_log WHERE action = 'decide')`).Scan(&subs, &steps); err != nil {
		t.Fatal(err)
	}
	if subs != 1 || steps != 7 {
		t.Errorf("%d submissions of the drafted template (want 1), %d ledger entries of its steps (want 7: 2 drafts, 2 submissions, 3 decisions)", subs, steps)
	}

	// The street's view: the versions targeting it, with its decision.
	var list struct {
		ReportTemplateDrafts []struct {
			Version int
			Streets []struct {
				Street, Decision string
				Reason           *string
			}
		}
	}
	street(sb).mustQuery(`{ reportTemplateDrafts { version streets { street decision reason } } }`, nil, &list)
	if len(list.ReportTemplateDrafts) != 2 {
		t.Fatalf("street B sees %+v", list)
	}
	for _, v := range list.ReportTemplateDrafts {
		for _, s := range v.Streets {
			want := map[int]string{1: "REJECTED", 2: "PENDING"}[v.Version]
			if s.Street == sb && s.Decision != want {
				t.Errorf("street B's decision on version %d: %s, want %s", v.Version, s.Decision, want)
			}
		}
	}
	if got := fmt.Sprint(street(sc).query(`{ reportTemplateDrafts { version } }`, nil, &list), len(list.ReportTemplateDrafts)); got != "[] 0" {
		t.Errorf("a street not targeted sees %s", got)
	}
}
