package server_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/server"
)

// The findings query: within the caller's row scope, under a purpose that
// lists the kind, with the resident under the usual policy and the kind's
// report draft pre-filled; the counts per grid are indicators under the
// same disclosure control. (Which findings the data holds is
// internal/findings' test against the generator's truth; here they are
// stored as a refresh stores them.)
func TestFindingsQueryScopePurposeDraftAndCounts(t *testing.T) {
	h, _ := newPagesHub(t, func(opts *server.Options, _ string) {
		conf := opts.Config.Get()
		conf.Findings = findings.Default().For(conf.Departments)
	})
	ctx := context.Background()
	city := h.fx.City
	mine := city.Persons[0]
	var other = city.Persons[0]
	for _, p := range city.Persons {
		if p.GridCode[:12] != mine.GridCode[:12] {
			other = p
			break
		}
	}
	pool := h.fx.Store.Pool
	for _, f := range []struct {
		kind string
		key  string
		grid any
		pid  any
	}{
		{"deceasedWithPension", "p" + strconv.FormatInt(mine.ID, 10), mine.GridCode, mine.ID},
		{"deceasedWithPension", "p" + strconv.FormatInt(other.ID, 10), other.GridCode, other.ID},
		{"overdueCaseWithoutGrid", "urban.cases/1", nil, nil},
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO findings (kind, key, grid_code, person_id) VALUES ($1, $2, $3, $4)`, f.kind, f.key, f.grid, f.pid); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return indicators.NewAggregator(indicators.Default()).Recompute(ctx, tx, findings.Department, nil)
	}); err != nil {
		t.Fatal(err)
	}

	staff := h.as(auth.Principal{Subject: "community-staff", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{mine.GridCode[:12]}})
	const q = `query($k: [String!]) { findings(kinds: $k) { totalCount nodes { kind label gridCode person { name idNumber }
		draft { template fields { field value } } } } }`
	type answer struct {
		Findings struct {
			TotalCount int
			Nodes      []struct {
				Kind, Label string
				GridCode    *string
				Person      *struct{ Name, IDNumber string }
				Draft       *struct {
					Template string
					Fields   []struct {
						Field string
						Value *string
					}
				}
			}
		}
	}
	var got answer
	staff.with("home_visit").mustQuery(q, nil, &got)
	if got.Findings.TotalCount != 1 || len(got.Findings.Nodes) != 1 {
		t.Fatalf("the community's staff see %+v, want the one finding in their community", got.Findings)
	}
	n := got.Findings.Nodes[0]
	if n.Kind != "deceasedWithPension" || n.Label != "已故仍有养老保险" || n.GridCode == nil || *n.GridCode != mine.GridCode ||
		n.Person == nil || n.Person.Name != mine.Name || n.Person.IDNumber != mine.IDNumber {
		t.Errorf("finding %+v: want the kind, its label, the grid and the resident (home_visit shows the ID number)", n)
	}
	k, _ := findings.Default().Lookup("deceasedWithPension")
	note := ""
	if n.Draft != nil {
		for _, f := range n.Draft.Fields {
			if f.Field == k.Report.Field && f.Value != nil {
				note = *f.Value
			}
		}
	}
	if n.Draft == nil || n.Draft.Template != k.Report.Template || note != k.Report.Note {
		t.Errorf("draft %+v: want %s with %q in %s", n.Draft, k.Report.Template, k.Report.Note, k.Report.Field)
	}

	// Within another community: nothing, as within a code that does not exist.
	var outside, missing answer
	const qw = `query($w: ID) { findings(within: $w) { totalCount nodes { kind } } }`
	staff.with("home_visit").mustQuery(qw, map[string]any{"w": other.GridCode}, &outside)
	staff.with("home_visit").mustQuery(qw, map[string]any{"w": mine.GridCode[:12] + "999"}, &missing)
	if outside.Findings.TotalCount != 0 || missing.Findings.TotalCount != 0 {
		t.Errorf("within another community: %+v; within a missing grid: %+v; want nothing", outside.Findings, missing.Findings)
	}

	// A purpose that does not list the kind, none at all, an aggregate role.
	for _, c := range []struct {
		who  *hub
		kind any
		code string
	}{
		{staff.with("floating_population"), []string{"deceasedWithPension"}, "FORBIDDEN"},
		{staff.with(""), nil, "PURPOSE_REQUIRED"},
		{h.as(auth.Principal{Subject: "bi", Roles: []auth.Role{auth.BIReader}}).with(""), nil, "FORBIDDEN"},
	} {
		if errs := c.who.query(q, map[string]any{"k": c.kind}, nil); len(errs) != 1 || errs[0].Extensions["code"] != c.code {
			t.Errorf("findings as %s under %q: %+v, want %s", c.who.token[:8], c.who.purpose, errs, c.code)
		}
	}
	// A city-wide reader sees all three, the one that locates nowhere too.
	admin := h.as(auth.Principal{Subject: "admin", Roles: []auth.Role{auth.Admin}}).with("home_visit")
	admin.mustQuery(q, nil, &got)
	if got.Findings.TotalCount != 3 {
		t.Errorf("an admin sees %d findings, want 3", got.Findings.TotalCount)
	}

	// The counts: one per grid, and a single finding is too small to publish.
	var value int
	if err := pool.QueryRow(ctx, `SELECT value FROM indicator_cells WHERE name = 'findingsDeceasedWithPension' AND grid_code = $1`, mine.GridCode).Scan(&value); err != nil || value != 1 {
		t.Errorf("stored count in %s: %d, %v; want 1", mine.GridCode, value, err)
	}
	var table struct {
		Indicators struct {
			Rows []struct {
				Unit   struct{ Code string }
				Values []struct {
					Name       string
					Value      *float64
					Suppressed bool
				}
			}
		}
	}
	admin.mustQuery(`query($w: ID) { indicators(level: GRID, within: $w, names: ["findingsDeceasedWithPension"]) {
		rows { unit { code } values { name value suppressed } } } }`, map[string]any{"w": mine.GridCode[:12]}, &table)
	seen := false
	for _, row := range table.Indicators.Rows {
		if row.Unit.Code == mine.GridCode {
			seen = true
			if len(row.Values) != 1 || row.Values[0].Value != nil || !row.Values[0].Suppressed {
				t.Errorf("the grid's count of one finding: %+v, want suppressed", row.Values)
			}
		}
	}
	if !seen {
		t.Errorf("no row for grid %s: %+v", mine.GridCode, table)
	}
}
