package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/testcity"
)

// biHub is a hub over a test city whose departments are synced from
// in-memory feeds, with the bi schema refreshed after each sync as serve
// does it, and an admin's snapshots refreshing it at once.
type biHub struct {
	*hub
	syncer  *factsync.Syncer
	figures *indicators.Service
	feeds   map[string]*factsynctest.Feed
}

func newBIHub(t *testing.T) *biHub {
	t.Helper()
	ctx := context.Background()
	fx := testcity.Load(t)
	feeds, _ := factsynctest.Feeds(factsynctest.Dataset(t))
	fm := factsync.FeedMap{}
	for d, f := range feeds {
		fm[d] = f
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ic := indicators.Default()
	registry := grid.NewRegistry(fx.App, time.Hour)
	// As serve: everything through the hub's own role.
	figures := indicators.NewService(fx.App.Pool, ic, registry, indicators.Options{Logger: quiet})
	pub := bi.NewPublisher(fx.App.Pool, figures, quiet)
	syncer := factsync.New(fx.App.Pool, fx.Keys, fm, registry, indicators.NewAggregator(ic), factsync.Options{
		Now: func() time.Time { return factsynctest.Day }, Logger: quiet,
		AfterRound: func(ctx context.Context) { pub.AfterSync(ctx, bi.Off, time.Now()) },
	})
	if err := syncer.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	opts, ledger := hubOptions(t, fx)
	opts.Figures = figures
	opts.Freshness = syncer.Freshness
	opts.AfterSnapshot = func(ctx context.Context) {
		if _, err := pub.Refresh(ctx); err != nil {
			t.Errorf("refresh after a snapshot: %v", err)
		}
	}
	return &biHub{hub: startHub(t, fx, opts, ledger), syncer: syncer, figures: figures, feeds: feeds}
}

// biLevels are the bi tables' levels and the GraphQL name of each.
var biLevels = []struct{ table, gql string }{
	{"district", "DISTRICT"}, {"street", "TOWNSHIP"}, {"community", "COMMUNITY"}, {"grid", "GRID"},
}

// biCell is one published cell: its unit's name, value (nil when withheld)
// and flag.
type biCell struct {
	Name       string
	Value      *float64
	Suppressed bool
}

// TestBISQLSurface is the bi schema as a BI tool sees it. After a fact sync
// the tables hold what the indicators query publishes (refreshed by the sync
// itself); after two snapshots the series tables hold what indicatorSeries
// publishes. A login granted the whole area reads every bi table, with pgx
// and with SQLAlchemy over psycopg2 (scripts/bi_client.py, the client stack
// Superset uses; missing, the test fails), and gets the same rows from both,
// cell for cell the GraphQL answer (a withheld cell NULL with suppressed
// true); every other table of the database refuses it (permission denied).
// A login scoped to one street sees that street's units and nothing else.
func TestBISQLSurface(t *testing.T) {
	h := newBIHub(t)
	ctx := context.Background()
	owner := h.fx.Store.Pool

	// The sync refreshes the bi tables, as of the data it wrote.
	var before int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM bi.refresh`).Scan(&before); err != nil || before != 0 {
		t.Fatalf("bi.refresh before any sync: %d rows, %v; want none", before, err)
	}
	if _, err := h.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	var shown, data int64
	if err := owner.QueryRow(ctx, `SELECT r.data_version, m.data_version FROM bi.refresh r, fact_meta m`).Scan(&shown, &data); err != nil {
		t.Fatalf("bi.refresh after a sync: %v", err)
	}
	if shown != data {
		t.Errorf("bi tables are of data version %d, the facts of %d", shown, data)
	}

	// Two periods, taken on demand by an admin.
	admin := h.as(auth.Principal{Subject: "city-admin", Roles: []auth.Role{auth.Admin}}).with("")
	for _, p := range []string{"2025-05", "2025-06"} {
		admin.mustQuery(`mutation($p: String) { takeIndicatorSnapshot(period: $p) { period } }`, map[string]any{"p": p}, nil)
	}

	// What GraphQL publishes, by level: "code|indicator" and
	// "period|code|indicator".
	want := map[string]map[string]biCell{}
	suppressed := 0
	for _, l := range biLevels {
		var cur struct {
			Indicators gqlTable `json:"indicators"`
		}
		admin.mustQuery(`query($l: GridLevel!) { indicators(level: $l) { `+gqlTableFields+` } }`, map[string]any{"l": l.gql}, &cur)
		want[l.table+"_indicators"] = cur.Indicators.cells("")
		var ser struct {
			IndicatorSeries struct {
				Periods []struct{ Period string } `json:"periods"`
				Tables  []gqlTable                `json:"tables"`
			} `json:"indicatorSeries"`
		}
		admin.mustQuery(`query($l: GridLevel!) { indicatorSeries(level: $l) { periods { period } tables { `+gqlTableFields+` } } }`,
			map[string]any{"l": l.gql}, &ser)
		if len(ser.IndicatorSeries.Periods) != 2 {
			t.Fatalf("indicatorSeries(%s): %d periods, want 2", l.gql, len(ser.IndicatorSeries.Periods))
		}
		cells := map[string]biCell{}
		for i, tab := range ser.IndicatorSeries.Tables {
			for k, c := range tab.cells(ser.IndicatorSeries.Periods[i].Period + "|") {
				cells[k] = c
			}
		}
		want[l.table+"_indicator_series"] = cells
		// indicators(period:) is the series' table of that period.
		var may struct {
			Indicators gqlTable `json:"indicators"`
		}
		admin.mustQuery(`query($l: GridLevel!) { indicators(level: $l, period: "2025-05") { `+gqlTableFields+` } }`, map[string]any{"l": l.gql}, &may)
		inMay := map[string]biCell{}
		for k, c := range cells {
			if strings.HasPrefix(k, "2025-05|") {
				inMay[k] = c
			}
		}
		if g := may.Indicators.cells("2025-05|"); len(g) == 0 || !sameCells(g, inMay) {
			t.Errorf("indicators(%s, period: 2025-05): %d cells, not the series' %d", l.gql, len(g), len(inMay))
		}
		for _, m := range []map[string]biCell{want[l.table+"_indicators"], cells} {
			for _, c := range m {
				if c.Suppressed {
					suppressed++
				}
			}
		}
	}
	if suppressed == 0 {
		t.Fatal("the test city publishes no withheld cell: the test would not see how bi shows one")
	}
	t.Logf("GraphQL publishes %d withheld cells over the levels and periods", suppressed)

	suffix := fmt.Sprintf("%08x", fnv32(h.fx.Store.Pool.Config().ConnConfig.Database))
	whole := grantBI(t, h, "bi_whole_"+suffix, "")
	street := h.fx.City.Persons[0].GridCode[:grid.Township.CodeLen()]
	scoped := grantBI(t, h, "bi_street_"+suffix, street)

	others := otherTables(t, h)
	t.Logf("%d other tables tried", len(others))

	// pgx, the whole area.
	got := readBI(t, whole)
	for table, cells := range want {
		if g := indicatorCells(t, got, table); !sameCells(g, cells) {
			t.Errorf("bi.%s: %d cells, GraphQL %d, or they differ", table, len(g), len(cells))
		}
	}
	for _, name := range []string{"indicators", "periods", "refresh", "as_of", "access"} {
		if _, ok := got[name]; !ok {
			t.Errorf("bi.%s not readable", name)
		}
	}
	if n := len(got["periods"].Rows); n != 2 {
		t.Errorf("bi.periods: %d rows, want 2", n)
	}
	for _, table := range others {
		if code := refusal(ctx, t, whole, table); code != "42501" {
			t.Errorf("pgx as %s: %s answered %s, want 42501 (permission denied)", whole.login, table, code)
		}
	}

	// SQLAlchemy over psycopg2: the same rows, the same refusals.
	py := runBIClient(t, whole, others)
	if !strings.HasPrefix(py.Versions["sqlalchemy"], "1.4.") || !strings.HasPrefix(py.Versions["psycopg2"], "2.9.") {
		t.Errorf("client stack %v: want SQLAlchemy 1.4 and psycopg2 2.9 (scripts/install-deps.sh)", py.Versions)
	}
	sameTables(t, "SQLAlchemy", py.Tables, got)
	for _, table := range others {
		if code := py.Refused[table]; code == nil || *code != "42501" {
			t.Errorf("SQLAlchemy as %s: %s answered %v, want 42501", whole.login, table, code)
		}
	}

	// One street.
	gotStreet := readBI(t, scoped)
	for _, l := range biLevels {
		for _, table := range []string{l.table + "_indicators", l.table + "_indicator_series"} {
			inStreet := map[string]biCell{}
			for k, c := range want[table] {
				if strings.HasPrefix(biCode(k), street) {
					inStreet[k] = c
				}
			}
			if l.table != "district" && len(inStreet) == 0 {
				t.Fatalf("%s: no row of street %s to see", table, street)
			}
			if g := indicatorCells(t, gotStreet, table); !sameCells(g, inStreet) {
				t.Errorf("street login, bi.%s: %d cells, want the street's %d", table, len(g), len(inStreet))
			}
		}
	}
	if rows := gotStreet["access"].Rows; len(rows) != 1 || rows[0][0] != scoped.login {
		t.Errorf("street login sees bi.access rows %v, want its own only", rows)
	}
	sameTables(t, "SQLAlchemy, street login", runBIClient(t, scoped, nil).Tables, gotStreet)

	// A role that reads more than bi cannot be given a scope.
	var super string
	if err := owner.QueryRow(ctx, `SELECT current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if _, err := bi.Grant(ctx, owner, super, street); !isBadInput(err) {
		t.Errorf("grant to the superuser %s: %v, want BAD_USER_INPUT", super, err)
	}
}

// gqlTableFields are the fields of an indicator table the test reads.
const gqlTableFields = `rows { unit { code name } values { name value suppressed } }`

type gqlTable struct {
	Rows []struct {
		Unit struct {
			Code string `json:"code"`
			Name string `json:"name"`
		} `json:"unit"`
		Values []struct {
			Name       string   `json:"name"`
			Value      *float64 `json:"value"`
			Suppressed bool     `json:"suppressed"`
		} `json:"values"`
	} `json:"rows"`
}

// cells are the table's cells by prefix + "code|indicator".
func (g gqlTable) cells(prefix string) map[string]biCell {
	out := map[string]biCell{}
	for _, r := range g.Rows {
		for _, v := range r.Values {
			out[prefix+r.Unit.Code+"|"+v.Name] = biCell{Name: r.Unit.Name, Value: v.Value, Suppressed: v.Suppressed}
		}
	}
	return out
}

// biCode is the unit code of a cell key.
func biCode(key string) string {
	parts := strings.Split(key, "|")
	return parts[len(parts)-2]
}

func sameCells(a, b map[string]biCell) bool {
	if len(a) != len(b) {
		return false
	}
	for k, x := range a {
		y, ok := b[k]
		if !ok || x.Name != y.Name || x.Suppressed != y.Suppressed || (x.Value == nil) != (y.Value == nil) ||
			x.Value != nil && *x.Value != *y.Value {
			return false
		}
	}
	return true
}

// biLogin is a BI login and how to reach the test database as it.
type biLogin struct {
	login string
	url   string // postgres://login:password@host:port/db
}

// grantBI grants login the bi tables under within and sets its password, as
// an operator does; the role is dropped when the test ends.
func grantBI(t *testing.T, h *biHub, login, within string) biLogin {
	t.Helper()
	ctx := context.Background()
	owner := h.fx.Store.Pool
	if _, err := bi.Grant(ctx, owner, login, within); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := owner.Exec(context.Background(), `DROP ROLE IF EXISTS `+pgx.Identifier{login}.Sanitize()); err != nil {
			t.Logf("drop role %s: %v", login, err)
		}
	})
	const password = "bi-test-password"
	if _, err := owner.Exec(ctx, `ALTER ROLE `+pgx.Identifier{login}.Sanitize()+` PASSWORD '`+password+`'`); err != nil {
		t.Fatal(err)
	}
	cc := owner.Config().ConnConfig
	u := url.URL{Scheme: "postgres", User: url.UserPassword(login, password),
		Host: fmt.Sprintf("%s:%d", cc.Host, cc.Port), Path: "/" + cc.Database, RawQuery: "sslmode=disable"}
	return biLogin{login: login, url: u.String()}
}

// biTable is a bi table as read: its columns and rows, timestamps as
// microseconds since the epoch, every value as JSON decodes it.
type biTable struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// readBI reads every table of the schema bi the login can list, with pgx.
func readBI(t *testing.T, l biLogin) map[string]biTable {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, l.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'bi' ORDER BY 1`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]biTable{}
	for _, name := range names {
		rows, err := conn.Query(ctx, `SELECT * FROM bi.`+pgx.Identifier{name}.Sanitize())
		if err != nil {
			t.Fatalf("bi.%s: %v", name, err)
		}
		var tab biTable
		for _, f := range rows.FieldDescriptions() {
			tab.Columns = append(tab.Columns, f.Name)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				if ts, ok := v.(time.Time); ok {
					vals[i] = ts.UnixMicro()
				}
			}
			tab.Rows = append(tab.Rows, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("bi.%s: %v", name, err)
		}
		// As JSON decodes it, to compare with the Python client's.
		b, _ := json.Marshal(tab)
		tab = biTable{}
		if err := json.Unmarshal(b, &tab); err != nil {
			t.Fatal(err)
		}
		out[name] = tab
	}
	return out
}

// indicatorCells are a read bi indicator table's cells, keyed as
// gqlTable.cells keys them; a withheld cell must be NULL.
func indicatorCells(t *testing.T, tables map[string]biTable, table string) map[string]biCell {
	t.Helper()
	tab, ok := tables[table]
	if !ok {
		t.Fatalf("bi.%s not readable", table)
	}
	col := map[string]int{}
	for i, c := range tab.Columns {
		col[c] = i
	}
	out := map[string]biCell{}
	for _, r := range tab.Rows {
		key := r[col["code"]].(string) + "|" + r[col["indicator"]].(string)
		if i, ok := col["period"]; ok {
			key = r[i].(string) + "|" + key
		}
		c := biCell{Name: r[col["name"]].(string), Suppressed: r[col["suppressed"]].(bool)}
		if v, ok := r[col["value"]].(float64); ok {
			c.Value = &v
		}
		if c.Suppressed != (c.Value == nil) {
			t.Errorf("bi.%s %s: value %v with suppressed %t", table, key, r[col["value"]], c.Suppressed)
		}
		out[key] = c
	}
	return out
}

// sameTables fails the test unless two clients read the same tables with
// the same rows (in any order).
func sameTables(t *testing.T, client string, a, b map[string]biTable) {
	t.Helper()
	if !slices.Equal(sortedKeys(a), sortedKeys(b)) {
		t.Errorf("%s lists bi tables %v, pgx %v", client, sortedKeys(a), sortedKeys(b))
	}
	for name, ta := range a {
		tb := b[name]
		if !slices.Equal(ta.Columns, tb.Columns) {
			t.Errorf("%s, bi.%s: columns %v, pgx %v", client, name, ta.Columns, tb.Columns)
			continue
		}
		ra, rb := rowStrings(ta), rowStrings(tb)
		if !slices.Equal(ra, rb) {
			t.Errorf("%s, bi.%s: %d rows, pgx %d, or they differ", client, name, len(ra), len(rb))
		}
	}
}

func rowStrings(tab biTable) []string {
	out := make([]string, len(tab.Rows))
	for i, r := range tab.Rows {
		b, _ := json.Marshal(r)
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// otherTables are every table, view and partition of the database outside
// bi and the system catalogues, as schema.name; the test checks the list
// holds the master index, the facts and the audit log.
func otherTables(t *testing.T, h *biHub) []string {
	t.Helper()
	rows, _ := h.fx.Store.Pool.Query(context.Background(), `SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('bi', 'pg_catalog', 'information_schema')
		AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%' ORDER BY 1`)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"public.persons", "public.households", "public.organizations", "public.facts",
		"public.audit_log", "public.indicator_cells", "public.indicator_period_cells", "public.report_submissions"} {
		if !slices.Contains(out, must) {
			t.Fatalf("%s is not among the tables tried: %v", must, out)
		}
	}
	return out
}

// refusal is the SQLSTATE reading table as l answers ("" when it is read).
func refusal(ctx context.Context, t *testing.T, l biLogin, table string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, l.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	schema, name, _ := strings.Cut(table, ".")
	_, err = conn.Exec(ctx, `SELECT * FROM `+pgx.Identifier{schema, name}.Sanitize()+` LIMIT 1`)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return ""
}

// biClientOutput is what scripts/bi_client.py prints.
type biClientOutput struct {
	Versions map[string]string  `json:"versions"`
	Tables   map[string]biTable `json:"tables"`
	Refused  map[string]*string `json:"refused"`
}

// runBIClient runs scripts/bi_client.py as l, trying the tables others.
// The script needs /usr/bin/python3 with SQLAlchemy and psycopg2
// (scripts/install-deps.sh): without them the test fails.
func runBIClient(t *testing.T, l biLogin, others []string) biClientOutput {
	t.Helper()
	u, err := url.Parse(l.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "postgresql+psycopg2"
	in, _ := json.Marshal(append([]string{}, others...))
	cmd := exec.Command("/usr/bin/python3", "../../scripts/bi_client.py", u.String())
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/bi_client.py: %v\n%s\n(scripts/install-deps.sh installs python3-sqlalchemy and python3-psycopg2)", err, stderr.String())
	}
	var out biClientOutput
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("scripts/bi_client.py printed %.300s: %v", b, err)
	}
	return out
}

func fnv32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

func isBadInput(err error) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == apperr.BadUserInput
}

// TestIndicatorWorkbooks opens the workbooks /export/indicators.xlsx and
// /export/indicators-series.xlsx serve, current, of a period and as a
// series, with excelize: a sheet per level named in Chinese, headers with
// the Chinese labels, the definitions sheet, and every row the CSV export of
// the same level holds, numbers as number cells of the same value and
// withheld cells marked as text where the CSV has an empty value flagged
// suppressed.
func TestIndicatorWorkbooks(t *testing.T) {
	h := newBIHub(t)
	ctx := context.Background()
	if _, err := h.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"2025-05", "2025-06"} {
		h.mustQuery(`mutation($p: String) { takeIndicatorSnapshot(period: $p) { period } }`, map[string]any{"p": p}, nil)
	}
	cat := h.figures.Catalogue()
	for _, tc := range []struct {
		name, xlsx, csv string
		series          bool
	}{
		{"current", "/export/indicators.xlsx", "/export/indicators.csv?level=%s", false},
		{"period", "/export/indicators.xlsx?period=2025-05", "/export/indicators.csv?period=2025-05&level=%s", false},
		{"series", "/export/indicators-series.xlsx", "/export/indicators-series.csv?level=%s", true},
	} {
		f, err := excelize.OpenReader(bytes.NewReader(h.get(tc.xlsx)))
		if err != nil {
			t.Fatalf("%s: open workbook: %v", tc.name, err)
		}
		wantSheets := []string{"区县", "街道", "社区", "网格", indicators.DefinitionsSheet}
		if got := f.GetSheetList(); !slices.Equal(got, wantSheets) {
			t.Errorf("%s: sheets %v, want %v", tc.name, got, wantSheets)
		}
		for i, l := range biLevels {
			recs, err := csv.NewReader(bytes.NewReader(h.get(fmt.Sprintf(tc.csv, l.gql)))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			sameSheet(t, f, wantSheets[i], recs, tc.series, cat)
		}
		defs, err := f.GetRows(indicators.DefinitionsSheet)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range cat.Names() {
			if !slices.ContainsFunc(defs, func(r []string) bool { return len(r) > 4 && r[0] == n && r[4] != "" }) {
				t.Errorf("%s: the definitions sheet has no definition of %s", tc.name, n)
			}
		}
		f.Close()
	}
}

// sameSheet checks a level's sheet against the CSV of that level: the same
// units in the same order, each value a number cell equal to the CSV's, or
// the suppressed mark where the CSV withholds it.
func sameSheet(t *testing.T, f *excelize.File, sheet string, recs [][]string, series bool, cat *indicators.Catalogue) {
	t.Helper()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatalf("%s: %v", sheet, err)
	}
	if len(rows) != len(recs) {
		t.Fatalf("%s: %d rows, the CSV %d", sheet, len(rows), len(recs))
	}
	// CSV: [period,] code, name, level, then value and flag per indicator;
	// sheet: [期间,] 代码, 名称, then a value per indicator.
	lead := 0
	if series {
		lead = 1
	}
	head := recs[0]
	names := []string{}
	for j := lead + 3; j < len(head); j += 2 {
		names = append(names, head[j])
	}
	for j, n := range names {
		in, _ := cat.Lookup(n)
		if got := rows[0][lead+2+j]; !strings.HasPrefix(got, in.Label+"（") {
			t.Errorf("%s: header of %s is %q, want its label %s", sheet, n, got, in.Label)
		}
	}
	withheld, numbers := 0, 0
	for i := 1; i < len(recs); i++ {
		rec := recs[i]
		if series && rows[i][0] != rec[0] {
			t.Errorf("%s row %d: period %q, CSV %q", sheet, i+1, rows[i][0], rec[0])
		}
		if rows[i][lead] != rec[lead] {
			t.Errorf("%s row %d: code %q, CSV %q", sheet, i+1, rows[i][lead], rec[lead])
		}
		if rec[lead+2] != indicators.TotalLevel && rows[i][lead+1] != rec[lead+1] {
			t.Errorf("%s row %d: name %q, CSV %q", sheet, i+1, rows[i][lead+1], rec[lead+1])
		}
		for j, n := range names {
			value, flag := rec[lead+3+2*j], rec[lead+4+2*j]
			cell, _ := excelize.CoordinatesToCellName(lead+3+j, i+1)
			typ, err := f.GetCellType(sheet, cell)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
			if err != nil {
				t.Fatal(err)
			}
			if flag == "true" {
				withheld++
				if value != "" || raw != indicators.SuppressedMark || typ == excelize.CellTypeUnset || typ == excelize.CellTypeNumber {
					t.Errorf("%s %s (%s): %q of type %v, CSV %q withheld; want the mark as text", sheet, cell, n, raw, typ, value)
				}
				continue
			}
			numbers++
			want, err1 := strconv.ParseFloat(value, 64)
			got, err2 := strconv.ParseFloat(raw, 64)
			if err1 != nil || err2 != nil || typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber || got != want {
				t.Errorf("%s %s (%s): %q of type %v, CSV %q; want that number", sheet, cell, n, raw, typ, value)
			}
		}
	}
	if numbers == 0 {
		t.Errorf("%s: no number compared", sheet)
	}
	if sheet == "网格" && withheld == 0 {
		t.Errorf("%s: no withheld cell compared", sheet)
	}
}

// get fetches path from the hub as its caller and returns the body; any
// status but 200 fails the test.
func (h *hub) get(path string) []byte {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	return b
}

// TestTrendsScope: the series and the workbooks follow the scope rule of
// indicators (a street admin has its street's figures, not another's nor
// the city's), and only an admin takes a snapshot.
func TestTrendsScope(t *testing.T) {
	h := newBIHub(t)
	h.mustQuery(`mutation { takeIndicatorSnapshot(period: "2025-05") { period } }`, nil, nil)
	own := h.fx.City.Persons[0].GridCode[:grid.Township.CodeLen()]
	other := ""
	for _, p := range h.fx.City.Persons {
		if c := p.GridCode[:grid.Township.CodeLen()]; c != own {
			other = c
			break
		}
	}
	street := h.as(auth.Principal{Subject: "street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{own}}).with("")
	const q = `query($w: ID) { indicatorSeries(level: GRID, within: $w) { periods { period } tables { rows { unit { code } } } } }`
	var got struct {
		IndicatorSeries struct {
			Periods []struct{ Period string }
			Tables  []struct {
				Rows []struct{ Unit struct{ Code string } }
			}
		}
	}
	street.mustQuery(q, map[string]any{"w": own}, &got)
	if len(got.IndicatorSeries.Tables) != 1 || len(got.IndicatorSeries.Tables[0].Rows) == 0 {
		t.Fatalf("own street's series: %+v", got)
	}
	for _, r := range got.IndicatorSeries.Tables[0].Rows {
		if !strings.HasPrefix(r.Unit.Code, own) {
			t.Errorf("own street's series holds grid %s", r.Unit.Code)
		}
	}
	for _, w := range []any{nil, other} {
		if errs := street.query(q, map[string]any{"w": w}, nil); len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
			t.Errorf("street admin, series within %v: %+v, want FORBIDDEN", w, errs)
		}
	}
	for _, path := range []string{"/export/indicators.xlsx", "/export/indicators-series.xlsx?within=" + other,
		"/export/indicators-series.csv?level=GRID&within=" + other} {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+street.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("street admin GET %s: %s, want 403", path, resp.Status)
		}
	}
	bi := h.as(auth.Principal{Subject: "city-bi", Roles: []auth.Role{auth.BIReader}}).with("")
	if errs := bi.query(`mutation { takeIndicatorSnapshot { period } }`, nil, nil); len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("bi_reader takes a snapshot: %+v, want FORBIDDEN", errs)
	}
}

// TestTrendChart draws the README's trend chart the way a BI tool does:
// six monthly periods, with new 特困 persons synced before each, read from
// bi.street_indicator_series by scripts/bi_trend_chart.py (SQLAlchemy,
// matplotlib) as a BI login. What it drew is indicatorSeries' answer for the
// streets, withheld values as gaps. GRIDHUB_UPDATE_SCREENSHOTS=1 writes the
// chart to docs/bi-trend.png.
func TestTrendChart(t *testing.T) {
	h := newBIHub(t)
	ctx := context.Background()
	persons := h.fx.City.Persons
	for m := 1; m <= 6; m++ {
		for k := range 4 * m {
			p := persons[(m*37+k*211)%len(persons)]
			h.feeds[deptsim.CivilAffairs].Append(connectors.Fact{Entity: connectors.Person, Key: p.IDNumber, Set: "tekun", ID: p.IDNumber,
				Record: connectors.Record{"status": "ACTIVE", "category": "URBAN"}})
		}
		if _, err := h.syncer.SyncAll(ctx, false); err != nil {
			t.Fatal(err)
		}
		h.mustQuery(`mutation($p: String) { takeIndicatorSnapshot(period: $p) { period } }`, map[string]any{"p": fmt.Sprintf("2025-%02d", m)}, nil)
	}
	login := grantBI(t, h, fmt.Sprintf("bi_chart_%08x", fnv32(h.fx.Store.Pool.Config().ConnConfig.Database)), "")
	u, err := url.Parse(login.url)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = "postgresql+psycopg2"
	out := filepath.Join(t.TempDir(), "bi-trend.png")
	cmd := exec.Command("/usr/bin/python3", "../../scripts/bi_trend_chart.py", u.String(), "tekunPersons", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/bi_trend_chart.py: %v\n%s\n(scripts/install-deps.sh installs python3-matplotlib)", err, stderr.String())
	}
	var drawn struct {
		Label   string
		Periods []string
		Streets map[string][]*float64
	}
	if err := json.Unmarshal(b, &drawn); err != nil {
		t.Fatalf("scripts/bi_trend_chart.py printed %.300s: %v", b, err)
	}

	var ser struct {
		IndicatorSeries struct {
			Periods []struct{ Period string }
			Tables  []gqlTable
		}
	}
	h.mustQuery(`{ indicatorSeries(level: TOWNSHIP, names: ["tekunPersons"]) { periods { period } tables { `+gqlTableFields+` } } }`, nil, &ser)
	want := map[string][]*float64{}
	var periods []string
	for i, tab := range ser.IndicatorSeries.Tables {
		periods = append(periods, ser.IndicatorSeries.Periods[i].Period)
		for _, r := range tab.Rows {
			if want[r.Unit.Code] == nil {
				want[r.Unit.Code] = make([]*float64, len(ser.IndicatorSeries.Tables))
			}
			want[r.Unit.Code][i] = r.Values[0].Value
		}
	}
	if !slices.Equal(drawn.Periods, periods) || len(periods) != 6 {
		t.Errorf("the chart's periods %v, the series' %v", drawn.Periods, periods)
	}
	a, _ := json.Marshal(drawn.Streets)
	w, _ := json.Marshal(want)
	if string(a) != string(w) {
		t.Errorf("the chart drew %s\nindicatorSeries answers %s", a, w)
	}
	if !strings.Contains(string(w), "null") || strings.Count(string(w), ",") < 10 {
		t.Errorf("the series should hold both withheld and published values: %s", w)
	}
	png, err := os.ReadFile(out)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("the chart %s is not a PNG (%v)", out, err)
	}
	if os.Getenv("GRIDHUB_UPDATE_SCREENSHOTS") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "bi-trend.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
