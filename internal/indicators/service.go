package indicators

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/singleflight"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/disclosure"
	"github.com/gridhub/gridhub/internal/grid"
)

// Table is an indicator table: one row per grid unit at a level under a unit,
// the values of the requested indicators, their totals over that unit, and the
// as-of time of each department's data. A Table is shared between callers (it
// comes from a cache): do not modify it.
type Table struct {
	Level  grid.Level
	Within string // the unit the rows are under; "" for the whole area
	// WithinName is the name of Within ("" for the whole area).
	WithinName string
	Names      []string // the indicators, in column order
	Rows       []Row
	// Totals are the indicators over Within (over the whole area, the sum of
	// its districts, when Within is ""), in Names order.
	Totals []Cell
	// AsOf is the time each department's data is as of: core (the master
	// index) when it was seeded, the others when a sync last found a change
	// (a sync that finds nothing new leaves it, and the cached table).
	AsOf []AsOf
	// DataVersion is the version of the data the table was computed from.
	DataVersion int64
	// FromCache says whether the table came from a cache.
	FromCache bool
	// Period is the period the table is a snapshot of; nil for the
	// current figures.
	Period *Period
}

// Row is one unit's values, in Table.Names order.
type Row struct {
	Unit   Unit
	Values []Cell
}

// Unit is the grid unit a row is about.
type Unit struct {
	Code  string
	Name  string
	Level grid.Level
}

// Cell is one published value. A withheld value has Value nil and Suppressed
// set; a rate whose denominator is 0 is withheld too.
type Cell struct {
	Name       string
	Value      *float64
	Suppressed bool
}

// AsOf is a department's as-of time; At is nil when it was never synced.
type AsOf struct {
	Department string
	At         *time.Time
}

// Units gives the current grid index (a *grid.Registry).
type Units interface {
	Index(ctx context.Context) (*grid.Index, error)
}

// Options configure a Service; the zero value is usable.
type Options struct {
	// Cache is the shared cache (Redis) tables are kept in besides the
	// in-process one; nil keeps them in process only.
	Cache cache.Cache
	// TTL bounds how long a table stays in the shared cache (default 10
	// minutes). Staleness is ruled out by the data version in the key.
	TTL time.Duration
	// Rule is the disclosure rule of counts that do not set their own
	// threshold (zero: counts below disclosure.DefaultThreshold withheld).
	Rule disclosure.Rule
	// LocalCells bounds the tables kept decoded in process by their number
	// of cells (default 1,000,000, some 40 MB; a city-wide table of every
	// grid and indicator has about 35,000).
	LocalCells int
	// History is how many of the latest periods (snapshots) a publication
	// is checked against, so that it cannot be differenced with them
	// (disclosure.SuppressSeries; default 12, a year of months).
	History int
	Logger  *slog.Logger
}

// Service serves indicator tables. It is safe for concurrent use.
type Service struct {
	pool  *pgxpool.Pool
	cat   atomic.Pointer[Catalogue]
	units Units
	opts  Options

	local *lru.Cache[string, *Table]
	// periodCache keeps the cells of recently read periods (they never
	// change).
	periodCache *lru.Cache[string, *periodCells]
	localCells  atomic.Int64
	flight      singleflight.Group

	mu   sync.Mutex // guards snap and computing it
	snap *snapshot

	hits, misses atomic.Int64
	// decided and decisionsRead count the families whose suppression this
	// service decided and read from the store.
	decided, decisionsRead atomic.Int64
}

// NewService returns a Service over the database's indicator cells.
func NewService(pool *pgxpool.Pool, cat *Catalogue, units Units, opts Options) *Service {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Minute
	}
	if opts.LocalCells <= 0 {
		opts.LocalCells = 1_000_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.History <= 0 {
		opts.History = 12
	}
	s := &Service{pool: pool, units: units, opts: opts}
	s.cat.Store(cat)
	s.periodCache, _ = lru.New[string, *periodCells](16)
	s.local, _ = lru.NewWithEvict(1<<16, func(_ string, t *Table) { s.localCells.Add(-cellsOf(t)) })
	return s
}

func cellsOf(t *Table) int64 { return int64((len(t.Rows) + 1) * len(t.Names)) }

// keep adds a table to the in-process cache, evicting the least recently
// used ones beyond the cell budget.
func (s *Service) keep(key string, t *Table) {
	if s.local.Contains(key) {
		return
	}
	s.localCells.Add(cellsOf(t))
	s.local.Add(key, t)
	for s.localCells.Load() > int64(s.opts.LocalCells) && s.local.Len() > 1 {
		s.local.RemoveOldest()
	}
}

// Catalogue is the service's catalogue.
func (s *Service) Catalogue() *Catalogue { return s.cat.Load() }

// Reconfigure puts another catalogue in force (a configuration reload):
// tables cut from the old one are no longer served.
func (s *Service) Reconfigure(cat *Catalogue) {
	s.cat.Store(cat)
	s.mu.Lock()
	s.snap = nil
	s.mu.Unlock()
}

// CacheStats counts table requests answered from a cache and computed.
func (s *Service) CacheStats() (hits, misses int64) { return s.hits.Load(), s.misses.Load() }

// DecisionStats counts the families whose suppression this service decided
// and those it read as another replica (or itself, before a restart)
// decided them.
func (s *Service) DecisionStats() (decided, read int64) {
	return s.decided.Load(), s.decisionsRead.Load()
}

// versions are what a table depends on.
type versions struct {
	data, cells, registry int64
	periods               int64 // the latest period's seq: what publications are checked against
}

// versionsSQL reads the versions.
const versionsSQL = `SELECT data_version, cells_version, (SELECT coalesce(max(version), 0) FROM seeds),
	(SELECT coalesce(max(seq), 0) FROM indicator_periods) FROM fact_meta`

// Table returns the indicators names (every indicator of the catalogue when
// names is empty) for each unit of level whose code starts with within ("":
// the whole area). within must be a unit at level or above it. Errors are
// *apperr.Error for bad arguments (BAD_USER_INPUT) and an unknown within
// (NOT_FOUND).
func (s *Service) Table(ctx context.Context, level grid.Level, within string, names []string) (*Table, error) {
	names, v, key, err := s.prepare(ctx, level, within, names)
	if err != nil {
		return nil, err
	}
	if t, ok := s.local.Get(key); ok {
		s.hits.Add(1)
		return cached(t), nil
	}
	res, err, _ := s.flight.Do(key, func() (any, error) {
		if s.opts.Cache != nil {
			got, err := s.opts.Cache.GetMulti(ctx, []string{key})
			if err != nil {
				s.opts.Logger.Warn("indicators: shared cache get", "err", err)
			} else if b, ok := got[key]; ok {
				t, err := decodeTable(b)
				if err == nil {
					s.hits.Add(1)
					s.keep(key, t)
					return cached(t), nil
				}
				s.opts.Logger.Warn("indicators: undecodable cached table", "err", err)
			}
		}
		s.misses.Add(1)
		t, err := s.compute(ctx, level, within, names, v)
		if err != nil {
			return nil, err
		}
		s.keep(key, t)
		if s.opts.Cache != nil {
			if err := s.opts.Cache.SetMulti(ctx, map[string][]byte{key: encodeTable(t)}, s.opts.TTL); err != nil {
				s.opts.Logger.Warn("indicators: shared cache set", "err", err)
			}
		}
		return t, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*Table), nil
}

// Key is what the table Table would return for these arguments is cached
// under: it changes with the data, the registry, the periods and the
// catalogue, so an answer kept under it is as fresh as the table. Errors are
// Table's.
func (s *Service) Key(ctx context.Context, level grid.Level, within string, names []string) (string, error) {
	_, _, key, err := s.prepare(ctx, level, within, names)
	return key, err
}

// prepare checks Table's arguments and reads the versions the table depends on.
func (s *Service) prepare(ctx context.Context, level grid.Level, within string, names []string) ([]string, versions, string, error) {
	var v versions
	if err := checkLevel(level, within); err != nil {
		return nil, v, "", err
	}
	names, err := s.resolveNames(names)
	if err != nil {
		return nil, v, "", err
	}
	if err := s.pool.QueryRow(ctx, versionsSQL).Scan(&v.data, &v.cells, &v.registry, &v.periods); err != nil {
		return nil, v, "", fmt.Errorf("indicators: read data version: %w", err)
	}
	return names, v, cacheKey(level, within, names, v, s.Catalogue().Fingerprint()), nil
}

// checkLevel checks the level and within arguments of a table.
func checkLevel(level grid.Level, within string) error {
	if level.CodeLen() == 0 {
		return apperr.BadInput("level", "grid_level", "unknown grid level %d", int(level))
	}
	if within != "" {
		wl, ok := grid.LevelOf(within)
		if !ok {
			return apperr.BadInput("within", "grid_code", "%q is not a grid unit code", within)
		}
		if wl > level {
			return apperr.BadInput("within", "within_level", "%s %s is below the level %s of the rows", wl, within, level)
		}
	}
	return nil
}

func cached(t *Table) *Table {
	c := *t
	c.FromCache = true
	return &c
}

// resolveNames checks names against the catalogue and drops repeats.
func (s *Service) resolveNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return s.Catalogue().Names(), nil
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if _, ok := s.Catalogue().Lookup(n); !ok {
			return nil, apperr.BadInput("names", "unknown_indicator", "unknown indicator %q", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func cacheKey(level grid.Level, within string, names []string, v versions, catalogue string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d\x00%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00%s", level, within, strings.Join(names, ","), v.data, v.cells, v.registry, v.periods, catalogue)
	return "indicators:v1:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// snapshot is the published state of count indicators over every unit of the
// registry, for one version of the counts: what every table is cut from.
type snapshot struct {
	cells, registry int64
	periods         int64
	ix              *grid.Index
	units           []grid.Unit // every level, sorted by level then code
	pos             map[string]int32
	parent          []int32 // index into units, -1 for a district
	levelStart      [grid.Grid + 2]int
	counts          map[string]*published
	// history is the earlier periods on the same units, oldest first
	// (loaded with the first family that needs it).
	history []*periodCells
}

// published is one count indicator at every unit.
type published struct {
	value    []int64
	sup      []bool
	total    int64 // the grand total over the districts
	totalSup bool
}

func newSnapshot(ix *grid.Index, v versions) *snapshot {
	sn := unitsSnapshot(func(l grid.Level) []grid.Unit { return ix.Units(l) })
	sn.cells, sn.registry, sn.periods, sn.ix = v.cells, v.registry, v.periods, ix
	return sn
}

// unitsSnapshot is a snapshot without counts over the units of each level
// (each level's in code order).
func unitsSnapshot(units func(grid.Level) []grid.Unit) *snapshot {
	sn := &snapshot{counts: map[string]*published{}}
	for l := grid.District; l <= grid.Grid; l++ {
		sn.levelStart[l] = len(sn.units)
		sn.units = append(sn.units, units(l)...)
	}
	sn.levelStart[grid.Grid+1] = len(sn.units)
	sn.pos = make(map[string]int32, len(sn.units))
	for i, u := range sn.units {
		sn.pos[u.Code] = int32(i)
	}
	sn.parent = make([]int32, len(sn.units))
	for i, u := range sn.units {
		p, ok := sn.pos[u.Parent]
		if !ok || u.Parent == "" {
			p = -1
		}
		sn.parent[i] = p
	}
	return sn
}

// published returns the published state of the count indicators names,
// computing (and keeping, for this version) those not known yet.
func (s *Service) published(ctx context.Context, v versions, names []string) (*snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, err := s.units.Index(ctx)
	if err != nil {
		return nil, fmt.Errorf("indicators: grid index: %w", err)
	}
	sn := s.snap
	if sn == nil || sn.cells != v.cells || sn.registry != v.registry || sn.periods != v.periods || sn.ix != ix {
		sn = newSnapshot(ix, v)
	}
	// Related counts are decided together: a count brings its whole family.
	cat := s.Catalogue()
	var missing []string
	for _, n := range names {
		for _, m := range cat.Family(n) {
			if sn.counts[m] == nil && !slices.Contains(missing, m) {
				missing = append(missing, m)
			}
		}
	}
	if len(missing) > 0 {
		if err := s.load(ctx, cat, sn, missing); err != nil {
			return nil, err
		}
	}
	s.snap = sn
	return sn, nil
}

// load reads the grid counts of names (whole families of related counts),
// rolls them up by code prefix (each unit is the sum of its children) and
// decides their suppression over the whole hierarchy, each family of related
// counts in one call.
func (s *Service) load(ctx context.Context, cat *Catalogue, sn *snapshot, names []string) error {
	vals := make(map[string][]int64, len(names))
	for _, n := range names {
		vals[n] = make([]int64, len(sn.units))
	}
	rows, _ := s.pool.Query(ctx, `SELECT name, grid_code, value FROM indicator_cells WHERE name = ANY($1)`, names)
	var (
		name, code string
		value      int64
		unknown    int
	)
	_, err := pgx.ForEachRow(rows, []any{&name, &code, &value}, func() error {
		i, ok := sn.pos[code]
		if !ok || sn.units[i].Level != grid.Grid {
			unknown++
			return nil
		}
		vals[name][i] += value
		return nil
	})
	if err != nil {
		return fmt.Errorf("indicators: read counts: %w", err)
	}
	if unknown > 0 {
		s.opts.Logger.Warn("indicators: counts of grids not in the registry ignored", "cells", unknown)
	}
	totals := make(map[string]int64, len(names))
	for _, n := range names {
		val := vals[n]
		// Children come after their parents: summing from the end rolls
		// grids up to the districts.
		var total int64
		for i := len(val) - 1; i >= 0; i-- {
			if p := sn.parent[i]; p >= 0 {
				val[p] += val[i]
			} else {
				total += val[i]
			}
		}
		totals[n] = total
	}
	// Each family not decided yet for this snapshot: its counts, then its
	// suppression, kept by whichever replica decided it first.
	var ds []*decision
	seen := map[string]bool{}
	countsFP := cat.countsFingerprint()
	for _, n := range names {
		if sn.counts[n] != nil || seen[n] {
			continue // decided with its family
		}
		d := &decision{fam: cat.Family(n)}
		for _, m := range d.fam {
			seen[m] = true
			in, _ := cat.Lookup(m)
			nodes := make([]disclosure.Node, len(sn.units))
			for i, u := range sn.units {
				nodes[i] = disclosure.Node{Code: u.Code, Parent: u.Parent, Value: vals[m][i]}
				if sn.parent[i] < 0 {
					nodes[i].Parent = disclosure.GrandTotal
				}
			}
			d.counts = append(d.counts, disclosure.Count{Name: m, Nodes: nodes, Rule: s.rule(in)})
			for _, o := range in.SubsetOf {
				d.relations = append(d.relations, disclosure.Relation{Count: m, Kind: disclosure.SubsetOf, Of: []string{o}})
			}
			if len(in.SumOf) > 0 {
				d.relations = append(d.relations, disclosure.Relation{Count: m, Kind: disclosure.SumOf, Of: in.SumOf})
			}
		}
		d.key = s.decisionKey(countsFP, sn, d)
		ds = append(ds, d)
	}
	if len(ds) > 0 {
		s.storedDecisions(ctx, ds)
	}
	for _, d := range ds {
		if d.withheld == nil {
			if err := s.decide(ctx, sn, d); err != nil {
				return err
			}
			s.storeDecision(ctx, d)
		}
		for _, m := range d.fam {
			p := &published{value: vals[m], sup: make([]bool, len(sn.units)), total: totals[m], totalSup: d.withheld[m][disclosure.GrandTotal]}
			for code := range d.withheld[m] {
				if i, ok := sn.pos[code]; ok {
					p.sup[i] = true
				}
			}
			sn.counts[m] = p
		}
	}
	return nil
}

// decide decides the suppression of a family over the snapshot's units,
// against the earlier periods.
func (s *Service) decide(ctx context.Context, sn *snapshot, d *decision) error {
	earlier, err := s.earlier(ctx, sn, d.fam)
	if err != nil {
		return err
	}
	sup, err := disclosure.SuppressSeries(d.counts, d.relations, earlier)
	if err != nil && len(d.relations) > 0 {
		if _, err2 := disclosure.SuppressFamily(d.counts, nil); err2 == nil {
			// The counts are sound and a declared relation does not
			// hold: the check cannot reason from a false premise, and
			// an attacker who trusts the catalogue would be misled in
			// ways nobody has checked. Withhold the family.
			s.opts.Logger.Error("indicators: a declared relation does not hold: the family is withheld", "family", d.fam, "err", err)
			sup, err = withholdAll(d.counts), nil
		}
	}
	if err != nil {
		return fmt.Errorf("indicators: suppress %s: %w", strings.Join(d.fam, ", "), err)
	}
	d.withheld = sup
	s.decided.Add(1)
	return nil
}

// withholdAll is the suppression of every cell of counts, the grand totals
// included.
func withholdAll(counts []disclosure.Count) map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(counts))
	for _, c := range counts {
		all := map[string]bool{disclosure.GrandTotal: true}
		for _, nd := range c.Nodes {
			all[nd.Code] = true
		}
		out[c.Name] = all
	}
	return out
}

func (s *Service) rule(in *Indicator) disclosure.Rule {
	r := s.opts.Rule
	if in.Threshold > 0 {
		r.Threshold = in.Threshold
	}
	if in.SuppressZero {
		r.SuppressZero = true
	}
	return r
}

// compute builds a table from the published state.
func (s *Service) compute(ctx context.Context, level grid.Level, within string, names []string, v versions) (*Table, error) {
	sn, err := s.published(ctx, v, countsOf(s.Catalogue(), names))
	if err != nil {
		return nil, err
	}
	t, err := s.cut(sn, level, within, names)
	if err != nil {
		return nil, err
	}
	t.DataVersion = v.data
	if t.AsOf, err = s.asOf(ctx, names); err != nil {
		return nil, err
	}
	return t, nil
}

// countsOf is the count indicators names are made of: themselves, and a
// rate's numerator and denominator; sorted.
func countsOf(cat *Catalogue, names []string) []string {
	var counts []string
	for _, n := range names {
		in, _ := cat.Lookup(n)
		if in.Rate != nil {
			counts = append(counts, in.Rate.Numerator, in.Rate.Denominator)
		} else {
			counts = append(counts, n)
		}
	}
	slices.Sort(counts)
	return slices.Compact(counts)
}

// cut builds the table of names at level under within from a published
// state that holds every count they need.
func (s *Service) cut(sn *snapshot, level grid.Level, within string, names []string) (*Table, error) {
	w := int32(-1)
	if within != "" {
		i, ok := sn.pos[within]
		if !ok {
			return nil, &apperr.Error{Code: apperr.NotFound, Field: "within", Message: fmt.Sprintf("no grid unit %s", within)}
		}
		w = i
	}
	// The rows: units of level, in code order, whose code starts with within.
	lv := sn.units[sn.levelStart[level]:sn.levelStart[level+1]]
	lo, _ := slices.BinarySearchFunc(lv, within, func(u grid.Unit, p string) int { return strings.Compare(u.Code, p) })
	hi := lo
	for hi < len(lv) && strings.HasPrefix(lv[hi].Code, within) {
		hi++
	}
	first := int32(sn.levelStart[level] + lo)

	t := &Table{Level: level, Within: within, Names: names, Rows: make([]Row, hi-lo)}
	if w >= 0 {
		t.WithinName = sn.units[w].Name
	}
	// One backing array for every cell and every value of the table.
	cells := make([]Cell, (hi-lo+1)*len(names))
	vals := make([]float64, len(cells))
	cell := func(k int, name string, value float64, sup bool) Cell {
		if sup {
			return Cell{Name: name, Suppressed: true}
		}
		vals[k] = value
		return Cell{Name: name, Value: &vals[k]}
	}
	at := func(k int, i int32) {
		for j, n := range names {
			in, _ := s.Catalogue().Lookup(n)
			idx := k*len(names) + j
			if in.Rate == nil {
				p := sn.counts[n]
				value, sup := p.total, p.totalSup
				if i >= 0 {
					value, sup = p.value[i], p.sup[i]
				}
				cells[idx] = cell(idx, n, float64(value), sup)
				continue
			}
			num, den := sn.counts[in.Rate.Numerator], sn.counts[in.Rate.Denominator]
			nv, ns, dv, ds := num.total, num.totalSup, den.total, den.totalSup
			if i >= 0 {
				nv, ns, dv, ds = num.value[i], num.sup[i], den.value[i], den.sup[i]
			}
			numIn, _ := s.Catalogue().Lookup(in.Rate.Numerator)
			sup := s.rule(numIn).RateSuppressed(dv, ns, ds)
			var rate float64
			if !sup {
				rate = math.Round(1000*float64(nv)/float64(dv)) / 10
			}
			cells[idx] = cell(idx, n, rate, sup)
		}
	}
	for r := range t.Rows {
		i := first + int32(r)
		u := sn.units[i]
		at(r, i)
		t.Rows[r] = Row{Unit: Unit{Code: u.Code, Name: u.Name, Level: u.Level}, Values: cells[r*len(names) : (r+1)*len(names)]}
	}
	k := len(t.Rows)
	at(k, w)
	t.Totals = cells[k*len(names):]
	return t, nil
}

// asOf reads the as-of time of every department names depend on, in the
// order they first appear.
func (s *Service) asOf(ctx context.Context, names []string) ([]AsOf, error) {
	depts := s.departmentsOf(names)
	rows, _ := s.pool.Query(ctx, `SELECT $1::text, (SELECT loaded_at FROM seeds ORDER BY version DESC LIMIT 1)
		UNION ALL SELECT department, coalesce(last_change_at, last_sync_at) FROM sync_state WHERE department = ANY($2)`, Core, depts)
	at := map[string]*time.Time{}
	var (
		d string
		t *time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&d, &t}, func() error {
		if t != nil {
			tt := t.UTC()
			at[d] = &tt
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("indicators: read as-of times: %w", err)
	}
	out := make([]AsOf, len(depts))
	for i, d := range depts {
		out[i] = AsOf{Department: d, At: at[d]}
	}
	return out, nil
}

// departmentsOf lists the departments names depend on, in the order they
// first appear.
func (s *Service) departmentsOf(names []string) []string {
	var depts []string
	for _, n := range names {
		in, _ := s.Catalogue().Lookup(n)
		for _, d := range s.Catalogue().Departments(in) {
			if !slices.Contains(depts, d) {
				depts = append(depts, d)
			}
		}
	}
	return depts
}

// FormatValue writes a cell's value as the CSV export does: counts as integers,
// rates with one decimal; "" when withheld.
func FormatValue(c Cell) string {
	if c.Value == nil {
		return ""
	}
	return strconv.FormatFloat(*c.Value, 'f', -1, 64)
}

var errCorrupt = errors.New("indicators: corrupt cached table")
