package deptsim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/ident"
)

// sqlIdents are the identities of a SQL record set's rows that its mapping
// query can return.
func sqlIdents(ds *Dataset, set string) []Ident {
	var out []Ident
	switch set {
	case "dibao":
		for _, x := range ds.CivilAffairs.Dibao {
			out = append(out, x.Ident)
		}
	case "residents":
		for _, x := range ds.CivilAffairs.Residents {
			out = append(out, x.Ident)
		}
	case "tekun":
		for _, x := range ds.CivilAffairs.Tekun {
			out = append(out, x.Ident)
		}
	case "elderlyAllowance":
		for _, x := range ds.CivilAffairs.Elderly {
			if x.Paying {
				out = append(out, x.Ident)
			}
		}
	case "disability":
		for _, x := range ds.CivilAffairs.Disability {
			out = append(out, x.Ident)
		}
	case "floating":
		for _, x := range ds.Health.Floating {
			out = append(out, x.Ident)
		}
	case "marriage":
		for _, x := range ds.Health.Marriage {
			out = append(out, x.Ident)
		}
	case "births":
		for _, x := range ds.Health.Births {
			out = append(out, x.Mother)
		}
	}
	return out
}

func TestLoadSQLAndMappingQueries(t *testing.T) {
	city, ds := fixture(t)
	m := mapping(t)
	allIDs := make([]string, len(city.Persons))
	for i, p := range city.Persons {
		allIDs[i] = p.IDNumber
	}
	for _, dept := range []string{CivilAffairs, Health} {
		t.Run(dept, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			url := devenv.NewDatabase(t)
			start := time.Now()
			if err := ds.LoadSQL(ctx, dept, url); err != nil {
				t.Fatal(err)
			}
			t.Logf("loaded %s in %v", dept, time.Since(start).Round(time.Millisecond))
			if err := ds.LoadSQL(ctx, dept, url); !errors.Is(err, ErrAlreadyLoaded) {
				t.Errorf("second load: %v, want ErrAlreadyLoaded", err)
			}
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			for _, rs := range m[dept].Records {
				t.Run(rs.Name, func(t *testing.T) {
					idents := sqlIdents(ds, rs.Name)
					if len(idents) == 0 {
						t.Fatal("no rows in the dataset")
					}
					// A batch of 60 persons with rows, as the hub sends it: true,
					// normalised ID numbers. Rows written with a lower-case x
					// match; missing, 15-digit and mistyped numbers do not.
					var keys []string
					for _, id := range idents {
						p := city.Persons[id.PersonID-1]
						odd := id.IDNumber != "" && id.IDNumber[len(id.IDNumber)-1] == 'x' || len(id.IDNumber) == 15
						if (len(keys) < 60 || odd) && !slices.Contains(keys, p.IDNumber) {
							keys = append(keys, p.IDNumber)
						}
					}
					want := map[string]int{}
					lower, old15 := 0, 0
					for _, id := range idents {
						p := city.Persons[id.PersonID-1]
						src := normKey(id.IDNumber)
						if len(src) == 15 {
							src, _ = ident.ConvertResidentID15(src)
						}
						if slices.Contains(keys, p.IDNumber) && src == p.IDNumber {
							want[p.IDNumber]++
							if id.IDNumber != p.IDNumber {
								lower++
							}
						}
					}
					// As the sql kind does, $1 also holds the 15-digit form of
					// the numbers of people born in the 1900s.
					args := slices.Clone(keys)
					for _, k := range keys {
						if k[6:8] == "19" {
							args = append(args, k[:6]+k[8:17])
						}
					}
					got := queryRows(t, ctx, conn, rs, args)
					counts := map[string]int{}
					for _, row := range got {
						k := row[rs.Key].(string)
						if len(k) == 15 {
							k, _ = ident.ConvertResidentID15(k)
							old15++
						}
						counts[k]++
					}
					if fmt.Sprint(counts) != fmt.Sprint(want) {
						t.Errorf("rows per key:\n got %v\nwant %v", counts, want)
					}
					if lower == 0 || old15 == 0 {
						t.Logf("rows with a lower-case x or 15-digit number: %d, of those 15-digit: %d", lower, old15)
					}
					// Every row of the whole city maps: codes known, dates in format.
					all := queryRows(t, ctx, conn, rs, allIDs)
					if len(all) == 0 {
						t.Fatal("no rows for the whole city")
					}
					for _, row := range all {
						checkRow(t, rs, row)
					}
				})
			}
		})
	}
}

// queryRows runs a record set's query with keys as $1 and returns each row by
// column name, checking every column the mapping reads is there.
func queryRows(t *testing.T, ctx context.Context, conn *pgx.Conn, rs connectors.RecordSet, keys []string) []map[string]any {
	t.Helper()
	rows, err := conn.Query(ctx, rs.Query, keys)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	cols := map[string]bool{}
	for _, fd := range rows.FieldDescriptions() {
		cols[fd.Name] = true
	}
	for _, c := range append([]string{rs.Key}, fieldSources(rs)...) {
		if !cols[c] {
			t.Errorf("the query returns no column %s (has %v)", c, cols)
		}
	}
	return out
}

func fieldSources(rs connectors.RecordSet) []string {
	var out []string
	for _, f := range rs.Fields {
		out = append(out, f.From)
	}
	return out
}

// checkRow checks that each value a row holds converts to its field's type.
func checkRow(t *testing.T, rs connectors.RecordSet, row map[string]any) {
	t.Helper()
	for _, f := range rs.Fields {
		v := row[f.From]
		if v == nil {
			continue
		}
		ok := true
		switch f.Type {
		case connectors.TypeString:
			_, ok = v.(string)
		case connectors.TypeInt:
			switch v.(type) {
			case int16, int32, int64:
			default:
				ok = false
			}
		case connectors.TypeDecimal:
			_, ok = v.(pgtype.Numeric)
		case connectors.TypeBool:
			s, isString := v.(string)
			ok = isString && (s == "0" || s == "1")
		case connectors.TypeDate:
			switch x := v.(type) {
			case time.Time:
			case string:
				_, err := time.Parse(f.Format, x)
				ok = err == nil
			default:
				ok = false
			}
		case connectors.TypeEnum:
			s, isString := v.(string)
			_, known := f.Codes[s]
			ok = isString && known
		}
		if !ok {
			t.Errorf("%s.%s: value %#v (%T) is not a %s as mapped", rs.Name, f.Name, v, v, f.Type)
			return
		}
	}
}
