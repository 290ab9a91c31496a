// Package testcity gives integration tests a real, migrated Postgres database
// loaded with a small generated city.
package testcity

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
)

// Residents is the size of the test city: big enough for multi-page listings in
// every community, small enough to load in a second. Scaled down this far, each
// community plans one residential grid (with its below-250 warning) plus its
// unit grids.
const Residents = 4000

// Fixture is a loaded test city.
type Fixture struct {
	// Store is connected as the database's owner: for setting tests up.
	Store *store.Store
	// App is the same database connected as the hub's own role (a member of
	// store.AppRole, owning nothing), as gridhub serve connects.
	App  *store.Store
	Keys *secret.Keys
	City *synth.City
}

var (
	genOnce sync.Once
	genCity *synth.City
	genErr  error
)

// City returns the test city, generated once per test binary (it is deterministic).
func City(tb testing.TB) *synth.City {
	tb.Helper()
	genOnce.Do(func() {
		genCity, genErr = synth.Generate(synth.Options{Scale: "demo", Residents: Residents, Seed: 1})
	})
	if genErr != nil {
		tb.Fatalf("generate test city: %v", genErr)
	}
	return genCity
}

// Load returns a fresh database, migrated and loaded with the test city.
func Load(tb testing.TB) *Fixture {
	tb.Helper()
	ctx := context.Background()
	dbURL := devenv.NewDatabase(tb)
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := st.EnsureLogin(ctx, store.DevLogin); err != nil {
		tb.Fatal(err)
	}
	appURL, err := store.AsUser(dbURL, store.DevLogin)
	if err != nil {
		tb.Fatal(err)
	}
	app, err := store.Open(ctx, appURL)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(app.Close)
	keys, err := secret.New(bytes.Repeat([]byte{42}, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	city := City(tb)
	if _, err := st.LoadCity(ctx, city, keys); err != nil {
		tb.Fatal(err)
	}
	return &Fixture{Store: st, App: app, Keys: keys, City: city}
}
