package server_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/gridwork"
)

const assessmentQuery = `query($level: GridLevel!, $within: ID, $from: Date!, $to: Date!, $names: [String!]) {
  assessment(level: $level, within: $within, from: $from, to: $to, names: $names) {
    names rows { unit { code } values { name value suppressed } } totals { name value suppressed } } }`

// 考核 over GraphQL and CSV: a street's staff get the figures of their
// street's grids (the same in both; only the reports' counts of households
// may be suppressed), not another street's;
// no token, a period out of order and an unknown figure are refused with
// their codes.
func TestAssessmentQueryAndCSV(t *testing.T) {
	h := newWorkHub(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	conf := gridwork.Default(depts)
	today := time.Now()
	hist := gridwork.GenerateHistory(h.fx.City, conf, today.AddDate(0, 0, -1), 20, 3)
	if err := hist.Load(context.Background(), h.fx.App.Pool, conf); err != nil {
		t.Fatal(err)
	}
	ps := personsOfStreets(t, h.fx.City, 2)
	sa, sb := ps[0].GridCode[:9], ps[1].GridCode[:9]
	street := h.as(auth.Principal{Subject: "jd-a", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{sa}}).with("")
	from, to := today.AddDate(0, 0, -14).Format(time.DateOnly), today.Format(time.DateOnly)
	vars := map[string]any{"level": "GRID", "within": sa, "from": from, "to": to}

	var out struct {
		Assessment struct {
			Names []string
			Rows  []struct {
				Unit   struct{ Code string }
				Values []struct {
					Name       string
					Value      *float64
					Suppressed bool
				}
			}
		}
	}
	street.mustQuery(assessmentQuery, vars, &out)
	table := out.Assessment
	if len(table.Rows) == 0 || len(table.Names) != len(gridwork.AssessmentCatalogue()) {
		t.Fatalf("%d rows, names %v", len(table.Rows), table.Names)
	}
	patrolled := 0.0
	gql := map[string]map[string]*float64{}
	for _, r := range table.Rows {
		if r.Unit.Code[:9] != sa {
			t.Errorf("row %s outside the street %s", r.Unit.Code, sa)
		}
		gql[r.Unit.Code] = map[string]*float64{}
		for _, c := range r.Values {
			if c.Suppressed && !strings.HasPrefix(c.Name, "report") {
				t.Errorf("%s %s suppressed: a staff figure", r.Unit.Code, c.Name)
			}
			gql[r.Unit.Code][c.Name] = c.Value
			if c.Name == "patrolDays" && c.Value != nil {
				patrolled += *c.Value
			}
		}
	}
	if patrolled == 0 {
		t.Fatalf("no patrol days in the street over %s..%s: the history was not counted", from, to)
	}

	// The CSV carries the same figures.
	req, _ := http.NewRequest("GET", h.srv.URL+"/export/assessment.csv?level=GRID&within="+sa+"&from="+from+"&to="+to, nil)
	req.Header.Set("Authorization", "Bearer "+street.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("CSV: HTTP %d, %v", resp.StatusCode, err)
	}
	if len(recs) != len(table.Rows)+2 {
		t.Fatalf("CSV: %d records, want a header, %d rows and the totals", len(recs), len(table.Rows))
	}
	header := recs[0]
	for _, rec := range recs[1 : len(recs)-1] {
		want := gql[rec[0]]
		if want == nil {
			t.Fatalf("CSV row %s not in the GraphQL table", rec[0])
		}
		for i := 3; i < len(header); i += 2 {
			w := want[header[i]]
			switch {
			case w == nil && rec[i] != "":
				t.Errorf("CSV %s %s = %q, want empty", rec[0], header[i], rec[i])
			case w != nil:
				if got, err := strconv.ParseFloat(rec[i], 64); err != nil || got != *w {
					t.Errorf("CSV %s %s = %q, want %v", rec[0], header[i], rec[i], *w)
				}
			}
		}
	}

	// Refusals, each with its code.
	noToken := *street
	noToken.token = ""
	refused := []struct {
		name   string
		caller *hub
		vars   map[string]any
		code   string
	}{
		{"another street", street, map[string]any{"level": "GRID", "within": sb, "from": from, "to": to}, "FORBIDDEN"},
		{"the whole city", street, map[string]any{"level": "TOWNSHIP", "from": from, "to": to}, "FORBIDDEN"},
		{"no token", &noToken, vars, "UNAUTHENTICATED"},
		{"a period out of order", street, map[string]any{"level": "GRID", "within": sa, "from": to, "to": from}, "BAD_USER_INPUT"},
		{"an unknown figure", street, map[string]any{"level": "GRID", "within": sa, "from": from, "to": to, "names": []string{"residents"}}, "BAD_USER_INPUT"},
	}
	for _, c := range refused {
		errs := c.caller.query(assessmentQuery, c.vars, nil)
		if len(errs) == 0 || errs[0].Extensions["code"] != c.code {
			t.Errorf("%s: errors %+v, want %s", c.name, errs, c.code)
		}
	}
	req, _ = http.NewRequest("GET", h.srv.URL+"/export/assessment.csv?level=GRID&within="+sb+"&from="+from+"&to="+to, nil)
	req.Header.Set("Authorization", "Bearer "+street.token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusForbidden {
		t.Errorf("CSV of another street: HTTP %d, want 403", resp.StatusCode)
	}
}

// The 考核 layer of /map: a figure of the assessment catalogue is offered
// beside the indicators, its period shown; each community of the district is
// drawn with the value the assessment query gives for the same period.
func TestMapShowsTheAssessmentLayer(t *testing.T) {
	h, _ := newPagesHub(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	conf := gridwork.Default(depts)
	today := time.Now()
	if err := gridwork.GenerateHistory(h.fx.City, conf, today.AddDate(0, 0, -1), 20, 5).Load(context.Background(), h.fx.App.Pool, conf); err != nil {
		t.Fatal(err)
	}
	from, to := today.AddDate(0, 0, -14).Format(time.DateOnly), today.Format(time.DateOnly)
	var want struct {
		Assessment struct {
			Rows []struct {
				Unit   struct{ Code string }
				Values []struct{ Value *float64 }
			}
		}
	}
	h.mustQuery(assessmentQuery, map[string]any{"level": "COMMUNITY", "within": h.fx.City.Area, "from": from, "to": to,
		"names": []string{"patrolDays"}}, &want)
	if len(want.Assessment.Rows) == 0 {
		t.Fatal("no communities")
	}

	bi := h.as(auth.Principal{Subject: "bi-tool", Roles: []auth.Role{auth.BIReader}}).token
	p := newPage(t, 1280, 900, false)
	p.signIn(h.srv.URL+"/map#"+url.Values{"ind": {"patrolDays"}, "level": {"COMMUNITY"}, "within": {h.fx.City.Area},
		"from": {from}, "to": {to}}.Encode(), bi)
	p.wait("the 考核 layer", fmt.Sprintf(`(() => { const c = document.querySelector('#map-card');
		return !!c && c.dataset.state === 'ready' && c.dataset.level === 'COMMUNITY' && c.dataset.within === %q
			&& document.querySelector('#indicator').value === 'patrolDays'; })()`, h.fx.City.Area))
	var labels []string
	p.eval(`[...document.querySelectorAll('#indicator option')].map(o => o.textContent)`, &labels)
	if !slices.Contains(labels, "巡查网格天数（天）") || !slices.Contains(labels, "户籍人口（人）") {
		t.Errorf("the picker offers %v, want the 考核 figures beside the indicators", labels)
	}
	var period struct {
		Hidden   bool
		From, To string
	}
	p.eval(`({hidden: document.querySelector('#period').hidden, from: document.querySelector('#from').value, to: document.querySelector('#to').value})`, &period)
	if period.Hidden || period.From != from || period.To != to {
		t.Errorf("the period control: %+v, want shown with %s to %s", period, from, to)
	}
	var drawn map[string]string
	p.eval(`Object.fromEntries([...document.querySelectorAll('svg#map path.unit')].map(u => [u.dataset.code, u.dataset.value]))`, &drawn)
	if len(drawn) != len(want.Assessment.Rows) {
		t.Fatalf("%d communities drawn, the query has %d", len(drawn), len(want.Assessment.Rows))
	}
	for _, r := range want.Assessment.Rows {
		w := ""
		if v := r.Values[0].Value; v != nil {
			w = strconv.FormatFloat(*v, 'f', -1, 64)
		}
		if drawn[r.Unit.Code] != w {
			t.Errorf("%s drawn with %q patrol days, the query says %q", r.Unit.Code, drawn[r.Unit.Code], w)
		}
	}
	p.noErrors()
}
