package linkage_test

import (
	"testing"

	"github.com/gridhub/gridhub/internal/linkage"
)

// The rows linkage placed on a person are found by the person's ID number
// (through the blinded number each link keeps), exactly those of the
// person's links, and still after the master index is loaded again.
func TestLinkedRowsFoundByThePersonsNumber(t *testing.T) {
	c, ctx := synced(t)
	pool := c.Fixture.Store.Pool
	stale := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM links l LEFT JOIN persons p ON p.id = l.person_id
			WHERE l.person_hmac IS DISTINCT FROM p.id_hmac`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := stale(); n != 0 {
		t.Fatalf("%d links whose person_hmac is not their person's", n)
	}

	// Every linked person's rows, by the person's links (person_id).
	want := map[int64]int{}
	rows, err := pool.Query(ctx, `SELECT l.person_id, count(*) FROM links l
		JOIN facts f ON f.department = l.department AND f.set = l.set AND f.id = l.fact_id AND f.key_hmac = l.key_hmac
		WHERE l.outcome = 'LINKED' GROUP BY l.person_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		want[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("no linked rows to find")
	}
	var keys []string
	person := map[string]int64{}
	for _, p := range c.Fixture.City.Persons {
		if _, ok := want[p.ID]; ok || len(keys) < len(want)+5 {
			keys = append(keys, p.IDNumber) // the linked persons and a few others
			person[p.IDNumber] = p.ID
		}
	}
	check := func(when string) {
		t.Helper()
		got, err := linkage.NewRows(pool, c.Fixture.Keys).LinkedRows(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		found := map[int64]int{}
		for _, byKey := range got {
			for k, rs := range byKey {
				found[person[k]] += len(rs)
			}
		}
		for id, n := range want {
			if found[id] != n {
				t.Errorf("%s: person %d: %d linked rows found, %d linked", when, id, found[id], n)
			}
		}
		for id, n := range found {
			if _, ok := want[id]; !ok {
				t.Errorf("%s: person %d: %d linked rows found, none linked", when, id, n)
			}
		}
	}
	check("after the sync")

	// Loading the master index again puts each link's number right.
	if _, err := pool.Exec(ctx, `UPDATE links SET person_hmac = NULL WHERE outcome = 'LINKED'`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fixture.Store.LoadCity(ctx, c.Fixture.City, c.Fixture.Keys); err != nil {
		t.Fatal(err)
	}
	if n := stale(); n != 0 {
		t.Errorf("%d links whose person_hmac is not their person's after the master index was loaded", n)
	}
	check("after the master index was loaded again")
}
