package synth

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
)

// Summary is the small description of a generated city written to summary.json.
type Summary struct {
	Seed int64  `json:"seed"`
	Area string `json:"area"`
	// Units counts units per level name (DISTRICT, TOWNSHIP, COMMUNITY, GRID).
	Units            map[string]int `json:"units"`
	ResidentialGrids int            `json:"residential_grids"`
	UnitGrids        int            `json:"unit_grids"`
	// GridsOutsideBounds counts residential grids with households outside
	// [grid.MinHouseholds, grid.MaxHouseholds].
	GridsOutsideBounds int `json:"grids_outside_bounds"`
	Buildings          int `json:"buildings"`
	Households         int `json:"households"`
	Persons            int `json:"persons"`
	Organizations      int `json:"organizations"`
	// SHA256 maps each truth file name to the SHA-256 of its uncompressed CSV,
	// so two truths can be compared without reading them; set by WriteTruth.
	SHA256 map[string]string `json:"sha256,omitempty"`
}

// Summary counts the city's records.
func (c *City) Summary() Summary {
	s := Summary{
		Seed:          c.Seed,
		Area:          c.Area,
		Units:         map[string]int{},
		Buildings:     len(c.Buildings),
		Households:    len(c.Households),
		Persons:       len(c.Persons),
		Organizations: len(c.Organizations),
	}
	for _, u := range c.Units {
		s.Units[u.Level.String()]++
		switch u.Kind {
		case grid.Residential:
			s.ResidentialGrids++
			if u.Households < grid.MinHouseholds || u.Households > grid.MaxHouseholds {
				s.GridsOutsideBounds++
			}
		case grid.UnitGrid:
			s.UnitGrids++
		}
	}
	return s
}

// WriteTruth writes the city as ground truth into dir (created if needed): the
// gzip-compressed CSV files persons, households, buildings, organizations and
// grids (every unit of every level), and summary.json with the counts and the
// files' hashes. Later scoring of record matching reads these files.
func (c *City) WriteTruth(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sum := c.Summary()
	sum.SHA256 = map[string]string{}
	files := []struct {
		name   string
		header []string
		rows   int
		row    func(i int, rec []string) []string
	}{
		{"persons.csv", []string{"id", "id_number", "name", "gender", "birth_date", "household_id", "relation", "grid_code", "ethnicity", "phone"},
			len(c.Persons), func(i int, rec []string) []string {
				p := &c.Persons[i]
				return append(rec, itoa(p.ID), p.IDNumber, p.Name, p.Gender, p.BirthDate.Format(time.DateOnly),
					itoa(p.HouseholdID), p.Relation, p.GridCode, p.Ethnicity, p.Phone)
			}},
		{"households.csv", []string{"id", "grid_code", "building_id", "address", "head_id"},
			len(c.Households), func(i int, rec []string) []string {
				h := &c.Households[i]
				return append(rec, itoa(h.ID), h.GridCode, itoa(h.BuildingID), h.Address, itoa(h.HeadID))
			}},
		{"buildings.csv", []string{"id", "grid_code", "address", "lon", "lat", "floors"},
			len(c.Buildings), func(i int, rec []string) []string {
				b := &c.Buildings[i]
				return append(rec, itoa(b.ID), b.GridCode, b.Address, ftoa(b.Lon), ftoa(b.Lat), strconv.Itoa(b.Floors))
			}},
		{"organizations.csv", []string{"id", "credit_code", "credit_code_valid", "name", "kind", "grid_code", "address", "lon", "lat", "employees", "legal_rep"},
			len(c.Organizations), func(i int, rec []string) []string {
				o := &c.Organizations[i]
				return append(rec, itoa(o.ID), o.CreditCode, strconv.FormatBool(creditCodeValid(o.CreditCode)), o.Name, o.Kind,
					o.GridCode, o.Address, ftoa(o.Lon), ftoa(o.Lat), strconv.Itoa(o.Employees), o.LegalRep)
			}},
		{"grids.csv", []string{"code", "name", "level", "kind", "parent", "households", "residents", "warnings"},
			len(c.Units), func(i int, rec []string) []string {
				u := &c.Units[i]
				return append(rec, u.Code, u.Name, u.Level.String(), string(u.Kind), u.Parent,
					strconv.Itoa(u.Households), strconv.Itoa(u.Residents), strings.Join(u.Warnings, "; "))
			}},
	}
	for _, f := range files {
		h, err := writeGzipCSV(filepath.Join(dir, f.name+".gz"), f.header, f.rows, f.row)
		if err != nil {
			return err
		}
		sum.SHA256[f.name] = h
	}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), append(b, '\n'), 0o644)
}

// writeGzipCSV writes rows to path and returns the hex SHA-256 of the plain CSV.
func writeGzipCSV(path string, header []string, n int, row func(int, []string) []string) (hash string, err error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return "", err
	}
	sha := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(zw, sha), 1<<16)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		return "", err
	}
	rec := make([]string, 0, len(header))
	for i := range n {
		if err := w.Write(row(i, rec[:0])); err != nil {
			return "", err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return "", err
	}
	if err := bw.Flush(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(sha.Sum(nil)), nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func ftoa(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }

func creditCodeValid(code string) bool {
	if len(code) != 18 {
		return false
	}
	c, err := ident.CreditCodeCheckChar(code[:17])
	return err == nil && c == code[17]
}
