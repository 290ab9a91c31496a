package linkage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// person is a master-index resident as linkage compares them.
type person struct {
	id       int64
	name     string
	sex      string
	birth    time.Time
	grid     string
	phone    string
	building string // BuildingKey of the household's building
}

// index is the master index in memory, with its blocks and the frequencies
// the u-probabilities are taken from (term-frequency adjusted, as Splink does:
// agreeing on a rare name says more than agreeing on a common one).
type index struct {
	version   int64 // seeds.version it was loaded at
	persons   []person
	byPinyin  map[string][]int32
	byBirth   map[time.Time][]int32
	byPhone   map[string][]int32
	byID      map[int64]int32
	names     map[string]int // exact name -> persons
	pinyins   map[string]int
	births    map[time.Time]int
	buildings map[string]int
	buildGrid map[string]string // building key -> its grid
	grids     map[string]int
	males     int
}

// registryVersion is the master index's version (its newest seed).
func registryVersion(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var v int64
	err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM seeds`).Scan(&v)
	return v, err
}

// loadIndex reads the master index.
func loadIndex(ctx context.Context, pool *pgxpool.Pool, version int64) (*index, error) {
	rows, err := pool.Query(ctx, `SELECT p.id, p.name, p.gender, p.birth_date, p.grid_code, coalesce(p.phone, ''), b.address, b.grid_code
		FROM persons p JOIN households h ON h.id = p.household_id JOIN buildings b ON b.id = h.building_id
		ORDER BY p.id`)
	if err != nil {
		return nil, fmt.Errorf("linkage: read master index: %w", err)
	}
	ix := &index{version: version, byPinyin: map[string][]int32{}, byBirth: map[time.Time][]int32{}, byPhone: map[string][]int32{},
		byID: map[int64]int32{}, names: map[string]int{}, pinyins: map[string]int{}, births: map[time.Time]int{},
		buildings: map[string]int{}, buildGrid: map[string]string{}, grids: map[string]int{}}
	var p person
	var baddr, bgrid string
	pinyinOf := map[string]string{} // names repeat: compute each once
	_, err = pgx.ForEachRow(rows, []any{&p.id, &p.name, &p.sex, &p.birth, &p.grid, &p.phone, &baddr, &bgrid}, func() error {
		p.building = BuildingKey(baddr)
		i := int32(len(ix.persons))
		ix.persons = append(ix.persons, p)
		py, ok := pinyinOf[p.name]
		if !ok {
			py = PinyinKey(p.name)
			pinyinOf[p.name] = py
		}
		ix.byPinyin[py] = append(ix.byPinyin[py], i)
		ix.byBirth[p.birth] = append(ix.byBirth[p.birth], i)
		if p.phone != "" {
			ix.byPhone[p.phone] = append(ix.byPhone[p.phone], i)
		}
		ix.byID[p.id] = i
		ix.names[p.name]++
		ix.pinyins[py]++
		ix.births[p.birth]++
		ix.buildings[p.building]++
		ix.buildGrid[p.building] = bgrid
		ix.grids[p.grid]++
		if p.sex == "M" {
			ix.males++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage: read master index: %w", err)
	}
	return ix, nil
}

// candidates are the persons in the row's blocks: the same sound of the name,
// the same birth date, the same phone. A name typed with a 同音字 shares the
// first; any other typo is still found by the second or third.
func (ix *index) candidates(r *row) []int32 {
	seen := map[int32]bool{}
	var out []int32
	add := func(is []int32) {
		for _, i := range is {
			if !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
	}
	add(ix.byPinyin[PinyinKey(r.name)])
	if b, ok := r.birthDate(); ok {
		add(ix.byBirth[b])
	}
	if r.phone != "" {
		add(ix.byPhone[r.phone])
	}
	return out
}
