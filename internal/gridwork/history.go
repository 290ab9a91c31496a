package gridwork

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/synth"
)

// History is a generated record of the grid's daily work over the days up
// to a day: each grid's patrols (its worker more or less diligent), diary
// entries, events reported with their cases, and the due reports filed.
// It is the truth the assessment figures are checked against, and what
// gridhub dev loads so that a new demo city has 考核 to show.
type History struct {
	Patrols []HistoryPatrol
	Entries []HistoryEntry
	Events  []HistoryEvent
	Visits  []HistoryVisit
}

// HistoryPatrol is a patrol of the history.
type HistoryPatrol struct {
	Grid, Worker string
	At           time.Time
}

// HistoryEntry is a diary entry of the history.
type HistoryEntry struct {
	Grid, Worker, Category, Heard string
	At                            time.Time
}

// HistoryEvent is an event of the history and its case.
type HistoryEvent struct {
	Grid, Reporter, Kind, Category string
	Lon, Lat                       float64
	At                             time.Time
	Stage                          string
	Deadline                       time.Time
	ClosedOn                       *time.Time
}

// HistoryVisit is a due report filed: template about a person.
type HistoryVisit struct {
	Grid, Template, Worker string
	PersonID               int64
	At                     time.Time
}

// heardTexts are what a diary entry of the history says, by category.
var heardTexts = []string{"邻里因楼道堆物发生争执，已现场调解", "独居老人反映取暖困难", "楼道电动车充电存在隐患",
	"小区垃圾清运不及时", "居民咨询医保缴费政策", "走访慰问困难家庭", "居民反映路灯不亮"}

// GenerateHistory makes the history of the days days up to and including
// end (China time), deterministic in seed: each residential grid's worker
// patrols on a share of the days that is the grid's own (diligence), keeps
// diary entries on patrols, reports an event now and then (its case at
// some stage, closed in some days, overdue past its deadline), and files
// the due reports of conf for a share of the grid's households.
func GenerateHistory(city *synth.City, conf *Config, end time.Time, days int, seed uint64) *History {
	r := rand.New(rand.NewPCG(seed, 0x6869737479))
	h := &History{}
	last := time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, cst)
	first := last.AddDate(0, 0, 1-days)
	buildings := map[string][]synth.Building{}
	for _, b := range city.Buildings {
		buildings[b.GridCode] = append(buildings[b.GridCode], b)
	}
	persons := map[int64][]synth.Person{} // household -> members
	for _, p := range city.Persons {
		persons[p.HouseholdID] = append(persons[p.HouseholdID], p)
	}
	households := map[string][]synth.Household{}
	for _, hh := range city.Households {
		households[hh.GridCode] = append(households[hh.GridCode], hh)
	}
	var categories []string
	for _, c := range conf.Diary.Categories {
		categories = append(categories, c.Code)
	}
	for _, u := range city.Units {
		if len(u.Code) != 15 || len(buildings[u.Code]) == 0 {
			continue
		}
		worker := "wgy-" + u.Code
		diligence := 0.3 + 0.7*r.Float64()
		for d := range days {
			day := first.AddDate(0, 0, d)
			if r.Float64() >= diligence {
				continue
			}
			for range 1 + r.IntN(2) {
				at := day.Add(time.Duration(8*60+r.IntN(10*60)) * time.Minute)
				h.Patrols = append(h.Patrols, HistoryPatrol{Grid: u.Code, Worker: worker, At: at})
				for range r.IntN(3) {
					k := r.IntN(len(categories))
					h.Entries = append(h.Entries, HistoryEntry{Grid: u.Code, Worker: worker, At: at.Add(20 * time.Minute),
						Category: categories[k], Heard: heardTexts[k%len(heardTexts)]})
				}
			}
			if ev := conf.Events; ev != nil && r.Float64() < 0.15 {
				kind := ev.Kinds[r.IntN(len(ev.Kinds))]
				b := buildings[u.Code][r.IntN(len(buildings[u.Code]))]
				at := day.Add(time.Duration(9*60+r.IntN(8*60)) * time.Minute)
				e := HistoryEvent{Grid: u.Code, Reporter: worker, Kind: kind.Value, Category: kind.Categories[r.IntN(len(kind.Categories))],
					Lon: b.Lon, Lat: b.Lat, At: at, Deadline: day.AddDate(0, 0, 1+r.IntN(5)),
					Stage: ev.Stages[r.IntN(len(ev.Stages))].Value}
				if e.Stage == ev.Closed() {
					closed := day.AddDate(0, 0, r.IntN(8))
					if closed.After(last) {
						closed = last
					}
					e.ClosedOn = &closed
				}
				h.Events = append(h.Events, e)
			}
		}
		// The due reports: a share of the households, some twice.
		for _, due := range conf.Assessment.Due {
			for _, hh := range households[u.Code] {
				members := persons[hh.ID]
				if len(members) == 0 || r.Float64() >= diligence*0.8 {
					continue
				}
				for range 1 + r.IntN(2) {
					p := members[r.IntN(len(members))]
					at := first.AddDate(0, 0, r.IntN(days)).Add(time.Duration(9*60+r.IntN(8*60)) * time.Minute)
					h.Visits = append(h.Visits, HistoryVisit{Grid: u.Code, Template: due.Template, Worker: worker, PersonID: p.ID, At: at})
				}
			}
		}
	}
	return h
}

// Load writes the history into the hub's tables, as recorded work (the
// events as delivered, their cases as last synced), in one transaction.
func (h *History) Load(ctx context.Context, pool *pgxpool.Pool, conf *Config) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		key := func(kind string, i int) string { return fmt.Sprintf("history-%s-%07d", kind, i) }
		rows := make([][]any, len(h.Patrols))
		for i, p := range h.Patrols {
			rows[i] = []any{key("patrol", i), p.Grid, p.Worker, p.At, p.At.Add(40 * time.Minute)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"patrols"}, []string{"idempotency_key", "grid_code", "worker", "started_at", "ended_at"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("gridwork: load patrols: %w", err)
		}
		rows = make([][]any, len(h.Entries))
		for i, e := range h.Entries {
			rows[i] = []any{key("entry", i), e.Grid, e.Worker, e.At, e.Category, e.Heard}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"diary_entries"}, []string{"idempotency_key", "grid_code", "worker", "visited_at", "category", "heard"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("gridwork: load diary entries: %w", err)
		}
		if conf.Events != nil {
			rows = make([][]any, len(h.Events))
			for i, e := range h.Events {
				k := key("event", i)
				fp := sha256.Sum256([]byte(k))
				rows[i] = []any{k, fp[:], e.Reporter, []string{"grid_worker"}, e.Grid, false, e.Kind, e.Category, e.Category,
					e.Lon, e.Lat, conf.Events.Department, string(report.Delivered), int32(1), e.At, fmt.Sprintf("HIS%s%04d", e.At.Format("20060102"), i),
					e.Stage, e.Deadline, e.ClosedOn, e.At, e.At}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"grid_events"}, []string{"idempotency_key", "fingerprint", "reporter", "reporter_roles",
				"grid_code", "outside_scope", "kind", "category", "description", "lon", "lat", "department", "status", "attempts", "delivered_at",
				"case_number", "stage", "deadline", "closed_on", "created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("gridwork: load events: %w", err)
			}
		}
		rows = make([][]any, len(h.Visits))
		for i, v := range h.Visits {
			k := key("visit", i)
			fp := sha256.Sum256([]byte(k))
			rows[i] = []any{k, fp[:], v.Template, int32(1), v.PersonID, v.Grid, v.Worker, []string{"grid_worker"}, []byte("[]"), []byte("{}"), []string{}, v.At}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"report_submissions"}, []string{"idempotency_key", "fingerprint", "template", "version",
			"subject_person_id", "grid_code", "actor", "actor_roles", "values", "draft", "core_fields", "created_at"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("gridwork: load report submissions: %w", err)
		}
		return nil
	})
}
