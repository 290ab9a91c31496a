package gridwork

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/disclosure"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// 考核: the figures grids, communities and streets are assessed on over a
// period, from the hub's own records of the daily work (patrols, the diary,
// reports filed, events reported and their cases). Most count the staff's
// work and are never suppressed; the reports due and completed count
// households (or residents), so they keep the indicators' disclosure rule
// (internal/disclosure, over every unit of the city, completed a subset of
// due) and their rate is withheld with them; so do the findings closed,
// which count residents' records (internal/findings). They are served in the shape
// of indicator tables (and the same CSV).

// Department is how the assessment figures name their source in the
// indicator catalogue's department column: the hub's own records of the
// grid's daily work.
const Department = "gridwork"

// MaxPeriod bounds an assessment's period, in days.
const MaxPeriod = 366

// The assessment figures.
var assessment = []*indicators.Indicator{
	{Name: "grids", Label: "责任网格数", Unit: "个", Definition: "单位内的责任网格数。"},
	{Name: "patrolDays", Label: "巡查网格天数", Unit: "天", Definition: "期间内有巡查记录的网格·天数(每个网格每天至多计一次)。"},
	{Name: "patrolCoverage", Label: "日巡查覆盖率", Unit: indicators.UnitPercent, Definition: "巡查网格天数占网格数×期间天数的百分比(每个网格每天至少巡查一次为100%)。"},
	{Name: "weeklyPatrolCoverage", Label: "周巡查覆盖率", Unit: indicators.UnitPercent, Definition: "有巡查记录的网格·周数占网格数×期间周数的百分比(自期间首日起每7天为一周)。"},
	{Name: "diaryEntries", Label: "民情日记", Unit: "条", Definition: "期间内记录的民情日记条数。"},
	{Name: "reportsDue", Label: "应报表单", Unit: "份", Definition: "期间内应填报的表单份数:每户(或每人)每期一份,按 gridwork.yaml 的考核项计。按户(人)计数,小于5时抑制。"},
	{Name: "reportsCompleted", Label: "已报表单", Unit: "份", Definition: "期间内已填报的户(或人)数,每户(或每人)每个考核项至多计一份。按户(人)计数,小于5时抑制。"},
	{Name: "reportCompletion", Label: "表单完成率", Unit: indicators.UnitPercent, Definition: "已报表单占应报表单的百分比。"},
	{Name: "eventsReported", Label: "上报事件", Unit: "件", Definition: "期间内从网格上报的事件和部件问题数,按发生位置所在网格计。"},
	{Name: "eventsClosed", Label: "已结案事件", Unit: "件", Definition: "期间内上报、至今已结案的事件数。"},
	{Name: "meanClosureDays", Label: "平均结案天数", Unit: "天", Definition: "期间内上报并已结案的事件,自上报到结案的平均天数。"},
	{Name: "overdueEvents", Label: "超期事件", Unit: "件", Definition: "期间内上报的事件中超过处置时限的件数(未结案已过时限,或过时限后结案)。"},
	{Name: "findingsClosed", Label: "已消除数据问题", Unit: "条", Definition: "期间内关闭的数据核查问题数(部门数据不再显示该问题),按问题所在网格计;不在任何网格的问题不计。按居民记录计数,小于5时抑制。"},
}

// AssessmentCatalogue lists the assessment figures.
func AssessmentCatalogue() []*indicators.Indicator {
	out := slices.Clone(assessment)
	for _, in := range out {
		in.Department = Department
	}
	return out
}

// Period is a span of whole days in China time, both ends included.
type Period struct {
	From, To time.Time // civil dates (any time of day, any zone: the date counts)
}

// bounds are the instants the period starts and ends at, and its days.
func (p Period) bounds() (from, to time.Time, days int, err error) {
	f := time.Date(p.From.Year(), p.From.Month(), p.From.Day(), 0, 0, 0, 0, cst)
	t := time.Date(p.To.Year(), p.To.Month(), p.To.Day(), 0, 0, 0, 0, cst).AddDate(0, 0, 1)
	days = int(t.Sub(f).Hours()/24 + 0.5)
	switch {
	case days < 1:
		return f, t, 0, apperr.BadInput("to", "order", "to lies before from")
	case days > MaxPeriod:
		return f, t, 0, apperr.BadInput("to", "range", "a period is at most %d days", MaxPeriod)
	}
	return f, t, days, nil
}

// gridCounts are one grid's raw counts over a period.
type gridCounts struct {
	patrolDays, patrolWeeks, entries            int64
	reported, closed, closureDays, overdue, due int64
	completed, findingsClosed                   int64
}

// Assess computes the assessment table: one row per unit of level under
// within ("" for everything), for the named figures (all without names),
// over the period.
func (s *Service) Assess(ctx context.Context, ix *grid.Index, level grid.Level, within string, p Period, names []string) (*indicators.Table, error) {
	from, to, days, err := p.bounds()
	if err != nil {
		return nil, err
	}
	cat := AssessmentCatalogue()
	if len(names) == 0 {
		for _, in := range cat {
			names = append(names, in.Name)
		}
	}
	for i, n := range names {
		if !slices.ContainsFunc(cat, func(in *indicators.Indicator) bool { return in.Name == n }) {
			return nil, apperr.BadInput(fmt.Sprintf("names[%d]", i), "unknown", "%s is not an assessment figure", clipName(n))
		}
	}
	if within != "" && len(within) >= level.CodeLen() {
		return nil, apperr.BadInput("level", "order", "level must lie below within")
	}
	// Every grid of the city: the disclosure rule decides over all units.
	counts, err := s.gridCounts(ctx, "", from, to)
	if err != nil {
		return nil, err
	}
	allGrids := ix.Units(grid.Grid)
	grids := underCode(allGrids, within)
	// Reports due: every household (or resident) once per due item.
	var perHousehold, perPerson int64
	for _, d := range s.conf().Assessment.Due {
		if d.Per == PerPerson {
			perPerson++
		} else {
			perHousehold++
		}
	}
	for _, g := range allGrids {
		c := counts[g.Code]
		if c == nil {
			c = &gridCounts{}
			counts[g.Code] = c
		}
		c.due = perHousehold*int64(g.Households) + perPerson*int64(g.Residents)
	}
	withheld, err := suppressReports(ix, allGrids, counts)
	if err != nil {
		return nil, err
	}
	weeks := (days + 6) / 7
	cells := func(unit string, codes []grid.Unit) []indicators.Cell {
		var sum gridCounts
		for _, g := range codes {
			if c := counts[g.Code]; c != nil {
				sum.patrolDays += c.patrolDays
				sum.patrolWeeks += c.patrolWeeks
				sum.entries += c.entries
				sum.reported += c.reported
				sum.closed += c.closed
				sum.closureDays += c.closureDays
				sum.overdue += c.overdue
				sum.due += c.due
				sum.completed += c.completed
				sum.findingsClosed += c.findingsClosed
			}
		}
		n := int64(len(codes))
		values := map[string]*float64{
			"grids": num(n), "patrolDays": num(sum.patrolDays), "patrolCoverage": rate(sum.patrolDays, n*int64(days)),
			"weeklyPatrolCoverage": rate(sum.patrolWeeks, n*int64(weeks)), "diaryEntries": num(sum.entries),
			"reportsDue": num(sum.due), "reportsCompleted": num(sum.completed), "reportCompletion": rate(sum.completed, sum.due),
			"eventsReported": num(sum.reported), "eventsClosed": num(sum.closed), "overdueEvents": num(sum.overdue),
			"meanClosureDays": mean(sum.closureDays, sum.closed), "findingsClosed": num(sum.findingsClosed),
		}
		due, completed := withheld["reportsDue"][unit], withheld["reportsCompleted"][unit]
		hidden := map[string]bool{"reportsDue": due, "reportsCompleted": completed,
			"reportCompletion": disclosure.Rule{}.RateSuppressed(sum.due, completed, due),
			"findingsClosed":   withheld["findingsClosed"][unit]}
		out := make([]indicators.Cell, len(names))
		for i, name := range names {
			out[i] = indicators.Cell{Name: name, Value: values[name]}
			if hidden[name] {
				out[i] = indicators.Cell{Name: name, Suppressed: true}
			}
		}
		return out
	}
	t := &indicators.Table{Level: level, Within: within, Names: names, AsOf: []indicators.AsOf{}}
	if u, ok := ix.Get(within); ok {
		t.WithinName = u.Name
	}
	for _, u := range underCode(ix.Units(level), within) {
		t.Rows = append(t.Rows, indicators.Row{Unit: indicators.Unit{Code: u.Code, Name: u.Name, Level: u.Level}, Values: cells(u.Code, underCode(grids, u.Code))})
	}
	t.Totals = cells(within, grids)
	return t, nil
}

// suppressReports decides which units' counts of residents are withheld,
// as the indicators' counts are: the reports due and completed and the
// findings closed, at every unit of the city (district, street, community,
// grid), completed a subset of due. A relation that does not hold (a report
// filed for a household no longer in the grid) withholds all of them
// everywhere rather than mislead the check.
func suppressReports(ix *grid.Index, grids []grid.Unit, counts map[string]*gridCounts) (map[string]map[string]bool, error) {
	names := []string{"reportsDue", "reportsCompleted", "findingsClosed"}
	sums := map[string][3]int64{}
	for _, g := range grids {
		c := counts[g.Code]
		for code := g.Code; code != ""; {
			v := sums[code]
			v[0] += c.due
			v[1] += c.completed
			v[2] += c.findingsClosed
			sums[code] = v
			u, ok := ix.Get(code)
			if !ok {
				break
			}
			code = u.Parent
		}
	}
	family := make([]disclosure.Count, len(names))
	for k, name := range names {
		family[k].Name = name
		for _, level := range []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid} {
			for _, u := range ix.Units(level) {
				family[k].Nodes = append(family[k].Nodes, disclosure.Node{Code: u.Code, Parent: u.Parent, Value: sums[u.Code][k]})
			}
		}
	}
	relations := []disclosure.Relation{{Count: "reportsCompleted", Kind: disclosure.SubsetOf, Of: []string{"reportsDue"}}}
	withheld, err := disclosure.SuppressFamily(family, relations)
	if err == nil {
		return withheld, nil
	}
	if _, err2 := disclosure.SuppressFamily(family, nil); err2 != nil {
		return nil, fmt.Errorf("gridwork: suppress the reports due and completed: %w", err)
	}
	all := map[string]map[string]bool{}
	for _, c := range family {
		all[c.Name] = map[string]bool{disclosure.GrandTotal: true}
		for _, n := range c.Nodes {
			all[c.Name][n.Code] = true
		}
	}
	return all, nil
}

func clipName(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

func num(n int64) *float64 {
	v := float64(n)
	return &v
}

// rate is 100·a/b with one decimal, nil when b is 0.
func rate(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	v := float64(int64(1000*float64(a)/float64(b)+0.5)) / 10
	return &v
}

// mean is a/b with one decimal, nil when b is 0.
func mean(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	v := float64(int64(10*float64(a)/float64(b)+0.5)) / 10
	return &v
}

// underCode keeps the units whose code starts with prefix.
func underCode(units []grid.Unit, prefix string) []grid.Unit {
	out := units[:0:0]
	for _, u := range units {
		if strings.HasPrefix(u.Code, prefix) {
			out = append(out, u)
		}
	}
	return out
}

// localDate is the China-time civil date of a timestamptz column, in SQL.
func localDate(col string) string {
	return fmt.Sprintf("((%s AT TIME ZONE 'UTC') + interval '8 hours')::date", col)
}

// gridCounts reads every grid's raw counts under within for [from, to).
func (s *Service) gridCounts(ctx context.Context, within string, from, to time.Time) (map[string]*gridCounts, error) {
	out := map[string]*gridCounts{}
	get := func(g string) *gridCounts {
		c := out[g]
		if c == nil {
			c = &gridCounts{}
			out[g] = c
		}
		return c
	}
	lo, hi := within, within+"~"
	fromDate := from.Format(time.DateOnly)
	var closed string
	if ev := s.conf().Events; ev != nil {
		closed = ev.Closed()
	}
	today := s.now().In(cst).Format(time.DateOnly)
	// Each query lists a grid code and its counts, added to the grid's.
	type query struct {
		sql  string
		args []any
		add  func(c *gridCounts, n []int64)
	}
	queries := []query{
		{`SELECT grid_code, count(DISTINCT ` + localDate("started_at") + `),
				count(DISTINCT (` + localDate("started_at") + ` - $4::date) / 7)
			FROM patrols WHERE grid_code >= $1 AND grid_code < $2 AND started_at >= $3 AND started_at < $5
			GROUP BY grid_code`, []any{lo, hi, from, fromDate, to},
			func(c *gridCounts, n []int64) { c.patrolDays, c.patrolWeeks = n[0], n[1] }},
		{`SELECT grid_code, count(*) FROM diary_entries
			WHERE grid_code >= $1 AND grid_code < $2 AND visited_at >= $3 AND visited_at < $4 GROUP BY grid_code`,
			[]any{lo, hi, from, to},
			func(c *gridCounts, n []int64) { c.entries = n[0] }},
		{`SELECT grid_code, count(*),
				count(*) FILTER (WHERE stage = $5 AND closed_on IS NOT NULL),
				coalesce(sum(closed_on - ` + localDate("created_at") + `) FILTER (WHERE stage = $5 AND closed_on IS NOT NULL), 0),
				count(*) FILTER (WHERE deadline IS NOT NULL AND (closed_on > deadline OR closed_on IS NULL AND $6::date > deadline))
			FROM grid_events WHERE grid_code >= $1 AND grid_code < $2 AND created_at >= $3 AND created_at < $4 GROUP BY grid_code`,
			[]any{lo, hi, from, to, closed, today},
			func(c *gridCounts, n []int64) {
				c.reported, c.closed, c.closureDays, c.overdue = n[0], n[1], n[2], n[3]
			}},
		// Findings closed: the departments' data stopped showing them.
		{`SELECT grid_code, count(*) FROM findings
			WHERE grid_code >= $1 AND grid_code < $2 AND closed_at >= $3 AND closed_at < $4 GROUP BY grid_code`,
			[]any{lo, hi, from, to},
			func(c *gridCounts, n []int64) { c.findingsClosed = n[0] }},
	}
	// Reports completed: distinct households (or persons) per due item.
	for _, d := range s.conf().Assessment.Due {
		who, join := "s.subject_person_id", ""
		if d.Per == PerHousehold {
			who, join = "p.household_id", "JOIN persons p ON p.id = s.subject_person_id"
		}
		queries = append(queries, query{`SELECT s.grid_code, count(DISTINCT ` + who + `) FROM report_submissions s ` + join + `
			WHERE s.template = $5 AND s.grid_code >= $1 AND s.grid_code < $2 AND s.created_at >= $3 AND s.created_at < $4
			GROUP BY s.grid_code`, []any{lo, hi, from, to, d.Template},
			func(c *gridCounts, n []int64) { c.completed += n[0] }})
	}
	for _, q := range queries {
		rows, err := s.pool.Query(ctx, q.sql, q.args...)
		if err != nil {
			return nil, fmt.Errorf("gridwork: assessment counts: %w", err)
		}
		n := len(rows.FieldDescriptions()) - 1
		for rows.Next() {
			var g string
			vals := make([]int64, n)
			dest := []any{&g}
			for i := range vals {
				dest = append(dest, &vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("gridwork: assessment counts: %w", err)
			}
			q.add(get(g), vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("gridwork: assessment counts: %w", err)
		}
	}
	return out, nil
}
