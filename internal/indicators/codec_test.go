package indicators

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/grid"
)

func sampleTable() *Table {
	v := []float64{412, 0, 91.5, 12345}
	at := time.Date(2026, 6, 30, 10, 0, 0, 123, time.UTC)
	return &Table{
		Level: grid.Grid, Within: "340705001001", WithinName: "某社区", Names: []string{"residents", "pensionCoverageRate"},
		DataVersion: 42,
		Rows: []Row{
			{Unit: Unit{Code: "340705001001001", Name: "第一网格", Level: grid.Grid},
				Values: []Cell{{Name: "residents", Value: &v[0]}, {Name: "pensionCoverageRate", Suppressed: true}}},
			{Unit: Unit{Code: "340705001001002", Name: "第二网格", Level: grid.Grid},
				Values: []Cell{{Name: "residents", Value: &v[1]}, {Name: "pensionCoverageRate", Value: &v[2]}}},
		},
		Totals: []Cell{{Name: "residents", Value: &v[3]}, {Name: "pensionCoverageRate", Suppressed: true}},
		AsOf:   []AsOf{{Department: Core, At: &at}, {Department: "social_security"}},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tab := range []*Table{sampleTable(), {Level: grid.District, Names: []string{}, Rows: []Row{}, Totals: []Cell{}, AsOf: []AsOf{}}} {
		got, err := decodeTable(encodeTable(tab))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tab, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

func TestCodecRejectsCorruptInput(t *testing.T) {
	b := encodeTable(sampleTable())
	for i := range len(b) {
		if _, err := decodeTable(b[:i]); err == nil {
			t.Errorf("a table cut at %d of %d bytes decoded", i, len(b))
		}
	}
	if _, err := decodeTable(append(b, 0)); err == nil {
		t.Error("trailing bytes accepted")
	}
}

func FuzzDecodeTable(f *testing.F) {
	f.Add(encodeTable(sampleTable()))
	f.Add([]byte("IT1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := decodeTable(b)
		if err != nil {
			return
		}
		// Whatever decodes survives a round trip.
		again, err := decodeTable(encodeTable(tab))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tab, again); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
