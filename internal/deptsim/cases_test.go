package deptsim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// The 城管 inbox opens a case for every report it accepts, with or without
// a party: listed by the changes feed at once under the receipt's case
// number, at stage 受理, moved on by AdvanceCase; a restarted simulator
// opens the same cases again.
func TestInboxOpensCases(t *testing.T) {
	dir := deptDir(t, UrbanManagement)
	s, base := serveDir(t, UrbanManagement, dir)
	prefix := base + conventions[UrbanManagement].prefix
	report := map[string]any{"caseType": "部件", "category": "井盖破损", "description": "人行道井盖松动",
		"location": map[string]any{"lng": 117.81, "lat": 30.94, "address": "长江西路12号"}, "reportTime": "2026/06/01 09:00:00"}
	status, raw, _ := post(t, prefix+"/inbox", UrbanManagement, "event-1", report)
	var receipt struct{ CaseNo string }
	if status != http.StatusOK || json.Unmarshal(raw, &receipt) != nil || receipt.CaseNo == "" {
		t.Fatalf("report: %d %s", status, raw)
	}
	// The same report again opens no second case.
	post(t, prefix+"/inbox", UrbanManagement, "event-1", report)
	if n := s.OpenedCases(); n != 1 {
		t.Fatalf("%d cases opened, want 1", n)
	}
	// A report about no one needs a place.
	if status, b, _ := post(t, prefix+"/inbox", UrbanManagement, "event-2", map[string]any{"description": "x"}); status != http.StatusUnprocessableEntity {
		t.Errorf("a report with no party and no place: %d %s", status, b)
	}

	last := func() map[string]any {
		t.Helper()
		var page struct {
			Items []struct {
				Record map[string]any
			}
		}
		since := ""
		for {
			_, out, _ := call(t, http.MethodGet, prefix+"/changes?limit=1000&since="+url.QueryEscape(since), APIKeyHeader(UrbanManagement), testKey, nil)
			b, _ := json.Marshal(out)
			page.Items = nil
			json.Unmarshal(b, &page)
			if more, _ := out["more"].(bool); !more {
				return page.Items[len(page.Items)-1].Record
			}
			since = out["next"].(string)
		}
	}
	c := last()
	if c["caseNo"] != receipt.CaseNo || c["status"] != "受理" || c["caseType"] != "部件" || c["partyIdNo"] != "" || c["deadline"] == "" {
		t.Fatalf("the newest change is %v, want case %s at 受理", c, receipt.CaseNo)
	}
	st, err := s.AdvanceCase(receipt.CaseNo)
	if err != nil || st.Status != "立案" {
		t.Fatalf("AdvanceCase: %+v, %v", st, err)
	}
	if c := last(); c["caseNo"] != receipt.CaseNo || c["status"] != "立案" {
		t.Errorf("after advancing, the newest change is %v", c)
	}
	if status, _, _ := call(t, http.MethodPost, base+"/_deptsim/cases/advance?caseNo=nope", APIKeyHeader(UrbanManagement), testKey, nil); status != http.StatusNotFound {
		t.Errorf("advancing an unknown case: %d", status)
	}

	s2, _ := serveDir(t, UrbanManagement, dir)
	if n := s2.OpenedCases(); n != 1 {
		t.Errorf("a restarted simulator has %d cases from its inbox, want 1", n)
	}
}
