// Package connectortest is the conformance suite every connector kind passes:
// one dataset (Fixture), which each kind's test writes into a source of its own
// kind (a Postgres table, an httptest JSON API, an .xlsx or .csv ledger) and
// maps back with its own department file; Run then checks that the connector
// reads it back exactly, batched, filtered, concurrently and cancellably.
package connectortest

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/ident"
)

// The record sets of the fixture. A kind's conformance department defines both
// with the fields of Sets (names and types); everything else about them (source
// field names, codes, date formats, the query or request) is the kind's own.
const (
	// Assistance is a one-per-person set (低保): the source holds a stale
	// duplicate for one person after the current record, and the first one in
	// source order must win.
	Assistance = "assistance"
	// Visits is a Many set (走访记录): a person has zero to three.
	Visits = "visits"
)

// Sets is the shape the conformance department must have: record set names,
// entities, Many, and the unified names and types of their fields.
var Sets = []connectors.RecordSet{
	{Name: Assistance, Entity: connectors.Person, Fields: []connectors.Field{
		{Name: "level", Type: connectors.TypeEnum},
		{Name: "amount", Type: connectors.TypeDecimal},
		{Name: "since", Type: connectors.TypeDate},
		{Name: "active", Type: connectors.TypeBool},
		{Name: "members", Type: connectors.TypeInt},
		{Name: "note", Type: connectors.TypeString},
	}},
	{Name: Visits, Entity: connectors.Person, Many: true, Fields: []connectors.Field{
		{Name: "visitedOn", Type: connectors.TypeDate},
		{Name: "topic", Type: connectors.TypeString},
		{Name: "minutes", Type: connectors.TypeInt},
	}},
}

// Levels are the unified values of the assistance level enum.
var Levels = []string{"URBAN", "RURAL"}

// Row is one source record of the fixture, in source order.
type Row struct {
	Set string
	// Key is the normalised key the hub asks for.
	Key string
	// SourceKey is the key as the source writes it: for some rows lower-case
	// x, a 15-digit first-generation number, or padded with spaces.
	SourceKey string
	// Record is the unified record the connector must return; a field the
	// source leaves empty is absent.
	Record connectors.Record
	// Updated is when the source last changed the row, for kinds whose
	// source keeps an updated-at: rows share it in threes (a batch job
	// touches many rows at once), and the stale duplicate is older than
	// every other row.
	Updated time.Time
}

// Fixture is the conformance dataset: 50 persons, rows of two record sets.
type Fixture struct {
	// Persons are the keys of every person, including several with no record.
	Persons []string
	// Unknown are valid keys that no source holds.
	Unknown []string
	// Rows are the source records in source order.
	Rows []Row
}

// RowsOf returns the rows of one record set, in source order.
func (fx Fixture) RowsOf(set string) []Row {
	var out []Row
	for _, r := range fx.Rows {
		if r.Set == set {
			out = append(out, r)
		}
	}
	return out
}

// Expected is the result a connector must return for keys and sets (nil: all).
func (fx Fixture) Expected(keys, sets []string) connectors.Result {
	res := connectors.Result{}
	for _, r := range fx.Rows {
		if !slices.Contains(keys, r.Key) || (sets != nil && !slices.Contains(sets, r.Set)) {
			continue
		}
		// Worked out here rather than with RecordSet.AddTo, which is under test.
		if res[r.Key] == nil {
			res[r.Key] = map[string][]connectors.Record{}
		}
		rec := maps.Clone(r.Record)
		if setShape(r.Set).Many || len(res[r.Key][r.Set]) == 0 {
			res[r.Key][r.Set] = append(res[r.Key][r.Set], rec)
		}
	}
	return res
}

func setShape(name string) *connectors.RecordSet {
	for i := range Sets {
		if Sets[i].Name == name {
			return &Sets[i]
		}
	}
	panic("connectortest: no record set " + name)
}

// Persons with special rows, by index into Fixture.Persons.
const (
	lowerX     = 0 // its number ends in X; the source writes x
	firstGen   = 1 // the source writes the 15-digit first-generation number
	duplicated = 2 // two assistance rows: the current one, and a stale copy last
	noRecords  = 3 // in Persons, in no source
	padded     = 5 // the source writes the number with spaces around it
)

// NewFixture builds the dataset. It is deterministic.
func NewFixture() Fixture {
	var fx Fixture
	day := func(base time.Time, n int) time.Time { return base.AddDate(0, 0, n) }
	born := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 52 {
		seq := 100 + 2*i
		id := mustID(day(born, i*397), seq)
		if i == lowerX {
			// Find a sequence number whose check character is X.
			for !strings.HasSuffix(id, "X") {
				seq++
				id = mustID(day(born, i*397), seq)
			}
		}
		if i < 50 {
			fx.Persons = append(fx.Persons, id)
		} else {
			fx.Unknown = append(fx.Unknown, id)
		}
	}
	sourceKey := func(i int) string {
		id := fx.Persons[i]
		switch i {
		case lowerX:
			return strings.ToLower(id)
		case firstGen:
			return id[:6] + id[8:17]
		case padded:
			return " " + id + " "
		}
		return id
	}

	assistance := func(i int) connectors.Record {
		r := connectors.Record{
			"level":   Levels[min(i%3, 1)],
			"amount":  300 + float64(i)*12.5,
			"since":   day(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), i*31),
			"active":  i%5 != 0,
			"members": int64(1 + i%6),
		}
		if i%4 != 0 {
			r["note"] = "备注" + strconv.Itoa(i)
		}
		return r
	}
	add := func(set string, i int, rec connectors.Record) {
		fx.Rows = append(fx.Rows, Row{Set: set, Key: fx.Persons[i], SourceKey: sourceKey(i), Record: rec})
	}
	for i := range fx.Persons {
		if i == noRecords || (i%2 == 1 && i > duplicated) {
			continue
		}
		add(Assistance, i, assistance(i))
	}
	add(Assistance, duplicated, connectors.Record{
		"level": "RURAL", "amount": 1.25, "since": time.Date(2010, 6, 1, 0, 0, 0, 0, time.UTC),
		"active": false, "members": int64(9), "note": "旧记录",
	})

	// Visits are interleaved across persons, so that a connector has to
	// group them by key while keeping each person's own order.
	topics := []string{"入户走访", "电话回访", "政策宣传"}
	for j := range 3 {
		for i := range fx.Persons {
			if i == noRecords || j >= (i+1)%4 {
				continue
			}
			r := connectors.Record{
				"visitedOn": day(time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC), i*3+j*40),
				"topic":     topics[j],
			}
			if (i+j)%5 != 0 {
				r["minutes"] = int64(15 * (j + 1))
			}
			add(Visits, i, r)
		}
	}
	base := time.Date(2024, 1, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*60*60))
	for i := range fx.Rows {
		fx.Rows[i].Updated = base.Add(time.Duration(i/3) * time.Minute)
		if fx.Rows[i].Set == Assistance && fx.Rows[i].Key == fx.Persons[duplicated] && fx.Rows[i].Record["note"] == "旧记录" {
			fx.Rows[i].Updated = base.AddDate(0, 0, -1)
		}
	}
	return fx
}

func mustID(birth time.Time, seq int) string {
	id, err := ident.NewResidentID("340705", birth, seq)
	if err != nil {
		panic(err)
	}
	return id
}

// SourceText writes a unified value the way the source writes field f as text:
// a date in f.Format, an enum as its source code, a bool as 1/0 (or the first
// of f.Format's true values). Kinds use it to fill their sources.
func SourceText(f connectors.Field, v any) string {
	switch f.Type {
	case connectors.TypeDate:
		layout := f.Format
		if layout == "" {
			layout = connectors.DefaultDateFormat
		}
		return v.(time.Time).Format(layout)
	case connectors.TypeEnum:
		codes := slices.Sorted(maps.Keys(f.Codes))
		for _, c := range codes {
			if f.Codes[c] == v {
				return c
			}
		}
		panic("connectortest: no source code for " + f.Name + " value " + v.(string))
	case connectors.TypeBool:
		if !v.(bool) {
			return "0"
		}
		if f.Format != "" {
			return strings.TrimSpace(strings.Split(f.Format, ",")[0])
		}
		return "1"
	case connectors.TypeInt:
		return strconv.FormatInt(v.(int64), 10)
	case connectors.TypeDecimal:
		return strconv.FormatFloat(v.(float64), 'f', -1, 64)
	}
	return v.(string)
}
