// Package factsynctest gives tests and benchmarks fact feeds without the
// department systems: an in-memory FactFeed, and the facts a connector would
// feed for each department of a simulated dataset (internal/deptsim), mapped
// onto the unified field names of the built-in mapping files.
package factsynctest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// Feed is an in-memory connectors.FactFeed over a growing log of facts: the
// watermark is the position in the log, so appending facts is a change the
// next incremental sync sees.
type Feed struct {
	mu    sync.Mutex
	facts []connectors.Fact
	calls int
	// MaxLimit caps the page size whatever the limit asked (0: no cap), like
	// the REST changes endpoints' 1000.
	MaxLimit int
	// FailAt makes the FailAt-th call (1-based, counted from the feed's
	// creation) fail with ErrInjected; 0 never fails.
	FailAt int
}

// ErrInjected is the error of a call Feed.FailAt chose.
var ErrInjected = errors.New("factsynctest: injected feed failure")

var _ connectors.FactFeed = (*Feed)(nil)

// NewFeed returns a feed holding facts.
func NewFeed(facts []connectors.Fact) *Feed {
	return &Feed{facts: slices.Clone(facts)}
}

// Append adds changes at the end of the log.
func (f *Feed) Append(facts ...connectors.Fact) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.facts = append(f.facts, facts...)
}

// Len is the number of facts in the log.
func (f *Feed) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.facts)
}

// Calls is how many times Facts was called.
func (f *Feed) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Facts implements connectors.FactFeed.
func (f *Feed) Facts(ctx context.Context, since string, limit int) (connectors.FactPage, error) {
	if err := ctx.Err(); err != nil {
		return connectors.FactPage{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.FailAt > 0 && f.calls == f.FailAt {
		return connectors.FactPage{}, ErrInjected
	}
	start := 0
	if since != "" {
		n, err := strconv.Atoi(since)
		if err != nil || n < 0 || n > len(f.facts) {
			return connectors.FactPage{}, errors.New("factsynctest: bad watermark " + strconv.Quote(since))
		}
		start = n
	}
	if limit <= 0 || f.MaxLimit > 0 && limit > f.MaxLimit {
		limit = max(f.MaxLimit, 1)
	}
	end := min(start+limit, len(f.facts))
	return connectors.FactPage{
		Facts:     slices.Clone(f.facts[start:end]),
		Watermark: strconv.Itoa(end),
		More:      end < len(f.facts),
	}, nil
}

// change is a fact with the time its source last changed it: feeds list
// changes oldest first.
type change struct {
	at   time.Time
	fact connectors.Fact
}

// DatasetFacts returns, per department code, the facts a connector's feed
// would give for the dataset, oldest change first: each source record as a
// fact of its record set with the unified field names and values. Keys are
// normalised as the connectors do (connectors.NormalizeKey) and kept as the
// source wrote them when they cannot be (a missing or mistyped number, which
// the real connectors skip); IDs are the source's row IDs, as the connectors
// give them. 城管 cases with no party (which the connectors skip) come with no
// entity and an empty key: the hub places them by their coordinates.
func DatasetFacts(ds *deptsim.Dataset) map[string][]connectors.Fact {
	out := map[string][]connectors.Fact{}
	add := func(dept string, cs []change) {
		slices.SortStableFunc(cs, func(a, b change) int { return a.at.Compare(b.at) })
		facts := make([]connectors.Fact, len(cs))
		for i, c := range cs {
			facts[i] = c.fact
		}
		out[dept] = facts
	}
	one := func(set string, id deptsim.Ident, row int64, at time.Time, rec connectors.Record) change {
		k := PersonKey(id.IDNumber)
		return change{at: at, fact: connectors.Fact{Entity: connectors.Person, Key: k, Set: set, ID: strconv.FormatInt(row, 10), Record: rec}}
	}

	ca := ds.CivilAffairs
	var cs []change
	for _, r := range ca.Dibao {
		rec := connectors.Record{"householdNumber": r.HouseholdNumber, "amount": r.Amount.Float(), "persons": int64(r.Persons),
			"since": r.Since, "status": r.Status}
		if !r.Until.IsZero() {
			rec["until"] = r.Until
		}
		cs = append(cs, one("dibao", r.Ident, r.Row, r.Updated, rec))
	}
	for _, r := range ca.Tekun {
		cs = append(cs, one("tekun", r.Ident, r.Row, r.Updated, connectors.Record{"category": r.Category, "careMode": r.CareMode, "since": r.Since, "status": r.Status}))
	}
	for _, r := range ca.Elderly {
		if r.Paying {
			cs = append(cs, one("elderlyAllowance", r.Ident, r.Row, r.Updated, connectors.Record{"band": r.Band, "monthlyAmount": r.Monthly.Float(), "since": r.Since}))
		}
	}
	for _, r := range ca.Disability {
		cs = append(cs, one("disability", r.Ident, r.Row, r.Updated, connectors.Record{"certificateNumber": r.CertificateNumber,
			"category": r.Category, "grade": int64(r.Grade), "issuedOn": r.IssuedOn}))
	}
	add(deptsim.CivilAffairs, cs)

	h := ds.Health
	cs = nil
	for _, r := range h.Floating {
		cs = append(cs, one("floating", r.Ident, r.Row, r.Updated, connectors.Record{"inflowDate": r.InflowDate, "originAddress": r.OriginAddress,
			"originCode": r.OriginCode, "reason": r.Reason, "residencePermit": r.ResidencePermit}))
	}
	for _, r := range h.Marriage {
		rec := connectors.Record{"maritalStatus": r.MaritalStatus, "children": int64(r.Children), "childbearingAge": r.ChildbearingAge}
		if r.Contraception != "" {
			rec["contraception"] = r.Contraception
		}
		cs = append(cs, one("marriage", r.Ident, r.Row, r.Updated, rec))
	}
	for _, r := range h.Births {
		cs = append(cs, one("births", r.Mother, r.Row, r.Updated, connectors.Record{"childName": r.ChildName, "birthDate": r.BirthDate,
			"certificateNumber": r.CertificateNumber, "hospital": r.Hospital}))
	}
	add(deptsim.Health, cs)

	e := ds.Employment
	cs = nil
	for _, r := range e.Unemployment {
		cs = append(cs, one("unemployment", r.Ident, r.Row, r.Updated, connectors.Record{"registeredOn": r.RegisteredOn, "status": r.Status, "reason": r.Reason}))
	}
	for _, r := range e.Hardship {
		cs = append(cs, one("hardship", r.Ident, r.Row, r.Updated, connectors.Record{"category": r.Category, "recognizedOn": r.RecognizedOn}))
	}
	for _, r := range e.Certificates {
		cs = append(cs, one("certificate", r.Ident, r.Row, r.Updated, connectors.Record{"number": r.Number, "issuedOn": r.IssuedOn}))
	}
	for _, r := range e.Assistance {
		cs = append(cs, one("assistance", r.Ident, r.Row, r.Updated, connectors.Record{"kind": r.Kind, "date": r.Date, "detail": r.Detail}))
	}
	add(deptsim.Employment, cs)

	ss := ds.SocialSecurity
	cs = nil
	for _, r := range ss.Pension {
		rec := connectors.Record{"scheme": r.Scheme, "status": r.Status, "since": r.Since}
		if r.MonthlyBenefit != 0 {
			rec["monthlyBenefit"] = r.MonthlyBenefit.Float()
		}
		cs = append(cs, one("pension", r.Ident, r.Row, r.Updated, rec))
	}
	for _, r := range ss.Medical {
		cs = append(cs, one("medical", r.Ident, r.Row, r.Updated, connectors.Record{"scheme": r.Scheme, "status": r.Status, "since": r.Since}))
	}
	add(deptsim.SocialSecurity, cs)

	cs = nil
	for _, c := range ds.UrbanManagement.Cases {
		rec := connectors.Record{"caseNumber": c.Number, "kind": c.Kind, "category": c.Category, "stage": c.Stage,
			"reportedOn": c.ReportedAt, "deadline": c.Deadline, "overdue": c.Overdue, "lon": c.Lon, "lat": c.Lat,
			"address": c.Address, "description": c.Description}
		f := connectors.Fact{Set: "cases", ID: c.Number, Record: rec}
		switch c.PartyType {
		case deptsim.PartyPerson:
			f.Entity, f.Key = connectors.Person, PersonKey(c.Party.IDNumber)
		case deptsim.PartyOrganization:
			f.Set, f.Entity, f.Key = "orgCases", connectors.Organization, OrgKey(c.CreditCode)
		}
		cs = append(cs, change{at: c.Updated, fact: f})
	}
	add(deptsim.UrbanManagement, cs)

	cs = nil
	for _, m := range ds.PartyBuilding.Members {
		rec := connectors.Record{"category": m.Category, "joinedOn": m.JoinedOn, "branch": m.Branch,
			"transferred": m.Transferred, "outOfContact": m.OutOfContact}
		if !m.LastContact.IsZero() {
			rec["lastContact"] = m.LastContact
		}
		// The ledger has no change times: its rows in ledger order.
		cs = append(cs, one("membership", m.Ident, m.Row, time.Time{}, rec))
	}
	add(deptsim.PartyBuilding, cs)
	return out
}

// PersonKey is a person key as a connector gives it: normalised when it can
// be, as written otherwise.
func PersonKey(raw string) string {
	if k, err := connectors.NormalizeKey(connectors.Person, raw); err == nil {
		return k
	}
	return raw
}

// OrgKey is an organisation key as a connector gives it.
func OrgKey(raw string) string {
	if k, err := connectors.NormalizeKey(connectors.Organization, raw); err == nil {
		return k
	}
	return raw
}

var (
	dsOnce sync.Once
	dsVal  *deptsim.Dataset
)

// Dataset is the departments' records about the test city (testcity.City),
// built once per test binary.
func Dataset(tb testing.TB) *deptsim.Dataset {
	tb.Helper()
	city := testcity.City(tb)
	dsOnce.Do(func() { dsVal = deptsim.Build(city, 1) })
	return dsVal
}

// Day is the day tests take ages on: the generated city's own "today".
var Day = time.Date(synth.RefDate.Year(), synth.RefDate.Month(), synth.RefDate.Day(), 12, 0, 0, 0, time.UTC)

// Feeds returns a fresh Feed per department over the dataset's facts.
func Feeds(ds *deptsim.Dataset) (map[string]*Feed, map[string][]connectors.Fact) {
	facts := DatasetFacts(ds)
	feeds := map[string]*Feed{}
	for d, fs := range facts {
		feeds[d] = NewFeed(fs)
	}
	return feeds, facts
}

// BenchCity is the city a benchmark runs on, loaded into a fresh database that
// lives as long as tb, with the departments' records about it.
type BenchCity struct {
	Fixture *testcity.Fixture
	Dataset *deptsim.Dataset
	// Load, Build: how long loading the master index and building the
	// departments' records took.
	Load, Build time.Duration
}

// LoadBenchCity generates the benchmark city chosen by the environment, the
// same variables as the store's benchmarks: GRIDHUB_BENCH_SCALE (demo or
// city; default demo) and GRIDHUB_BENCH_RESIDENTS (about this many residents,
// 0 for the scale's natural size; default 50000 so that a plain `go test
// -bench .` stays quick). The whole city (about 1.3 million residents):
// GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0.
func LoadBenchCity(tb testing.TB) *BenchCity {
	tb.Helper()
	opts := synth.Options{Scale: synth.ScaleDemo, Residents: 50000, Seed: 1}
	if s := os.Getenv("GRIDHUB_BENCH_SCALE"); s != "" {
		opts.Scale = s
	}
	if s := os.Getenv("GRIDHUB_BENCH_RESIDENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			tb.Fatalf("GRIDHUB_BENCH_RESIDENTS=%q: want a number of residents, 0 for the natural size", s)
		}
		opts.Residents = n
	}
	city, err := synth.Generate(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, devenv.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	keys, err := secret.New(bytes.Repeat([]byte{42}, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	bc := &BenchCity{}
	start := time.Now()
	if _, err := st.LoadCity(ctx, city, keys); err != nil {
		tb.Fatal(err)
	}
	bc.Load = time.Since(start)
	start = time.Now()
	bc.Dataset = deptsim.Build(city, 1)
	bc.Build = time.Since(start)
	bc.Fixture = &testcity.Fixture{Store: st, Keys: keys, City: city}
	return bc
}
