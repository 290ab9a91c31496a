package builtin_test

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
)

// unified is the unified schema the GraphQL side is written against: per
// department, per record set, its entity and many flag, then each field as
// "name type sharing" (U unconditional, C conditional, N none).
var unified = map[string]map[string][]string{
	"civil_affairs": {
		"dibao":            {"person", "householdNumber string U", "amount decimal C", "persons int U", "since date U", "until date U", "status enum U"},
		"tekun":            {"person", "category enum U", "careMode enum U", "since date U", "status enum U"},
		"elderlyAllowance": {"person", "band enum U", "monthlyAmount decimal C", "since date U"},
		"residents":        {"person", "deceased bool U", "diedOn date U"},
		"disability":       {"person", "certificateNumber string C", "category enum C", "grade int C", "issuedOn date U"},
	},
	"health": {
		"floating": {"person", "inflowDate date U", "originAddress string C", "originCode string U", "reason enum U", "residencePermit bool U"},
		"marriage": {"person", "maritalStatus enum C", "children int C", "childbearingAge bool U", "contraception string N"},
		"births":   {"person many", "childName string C", "birthDate date U", "certificateNumber string N", "hospital string U"},
	},
	"employment": {
		"unemployment": {"person", "registeredOn date U", "status enum U", "reason string C"},
		"hardship":     {"person", "category enum U", "recognizedOn date U"},
		"certificate":  {"person", "number string C", "issuedOn date U"},
		"assistance":   {"person many", "kind enum U", "date date U", "detail string C"},
	},
	"social_security": {
		"pension": {"person", "scheme enum U", "status enum U", "since date U", "monthlyBenefit decimal N"},
		"medical": {"person", "scheme enum U", "status enum U", "since date U"},
	},
	"urban_management": {
		"cases":    caseFields("person many"),
		"orgCases": caseFields("organization many"),
	},
	"party_building": {
		"membership": {"person", "category enum U", "joinedOn date U", "branch string U", "transferred bool U", "outOfContact bool C", "lastContact date C"},
	},
}

func caseFields(entity string) []string {
	return []string{entity, "caseNumber string U", "kind enum U", "category string U", "stage enum U", "reportedOn date U",
		"deadline date U", "overdue bool U", "lon decimal U", "lat decimal U", "address string U", "description string C"}
}

// enums are the unified values of each enum field.
var enums = map[string][]string{
	"dibao.status":           {"ACTIVE", "SUSPENDED", "ENDED"},
	"tekun.category":         {"URBAN", "RURAL"},
	"tekun.careMode":         {"CENTRALIZED", "DISPERSED"},
	"tekun.status":           {"ACTIVE", "ENDED"},
	"elderlyAllowance.band":  {"AGE_80_89", "AGE_90_99", "AGE_100_PLUS"},
	"disability.category":    {"VISION", "HEARING", "SPEECH", "PHYSICAL", "INTELLECTUAL", "MENTAL", "MULTIPLE"},
	"floating.reason":        {"WORK", "BUSINESS", "STUDY", "FAMILY", "OTHER"},
	"marriage.maritalStatus": {"SINGLE", "MARRIED", "DIVORCED", "WIDOWED"},
	"unemployment.status":    {"REGISTERED", "REEMPLOYED", "CANCELLED"},
	"hardship.category":      {"AGE_4050", "ZERO_EMPLOYMENT_FAMILY", "DISABLED", "LOW_INCOME", "LONG_TERM_UNEMPLOYED", "OTHER"},
	"assistance.kind":        {"JOB_REFERRAL", "TRAINING", "PUBLIC_WELFARE_POST", "SUBSIDY"},
	"pension.scheme":         {"EMPLOYEE", "RESIDENT"},
	"pension.status":         {"CONTRIBUTING", "RECEIVING", "SUSPENDED", "TERMINATED"},
	"medical.scheme":         {"EMPLOYEE", "RESIDENT"},
	"medical.status":         {"INSURED", "LAPSED"},
	"cases.kind":             {"EVENT", "COMPONENT"},
	"cases.stage":            {"ACCEPTED", "FILED", "DISPATCHED", "HANDLING", "VERIFYING", "CLOSED"},
	"orgCases.kind":          {"EVENT", "COMPONENT"},
	"orgCases.stage":         {"ACCEPTED", "FILED", "DISPATCHED", "HANDLING", "VERIFYING", "CLOSED"},
	"membership.category":    {"FULL", "PROBATIONARY"},
}

var sharingClass = map[string]string{connectors.Unconditional: "U", connectors.Conditional: "C", connectors.NotShared: "N"}

func load(t *testing.T) map[string]*connectors.Department {
	t.Helper()
	sub, err := fs.Sub(builtin.FS, "departments")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := connectors.LoadDepartmentsFS(sub, "departments")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*connectors.Department{}
	for _, d := range ds {
		out[d.Code] = d
	}
	return out
}

func TestMappingFilesMatchUnifiedSchema(t *testing.T) {
	got := map[string]map[string][]string{}
	for code, d := range load(t) {
		sets := map[string][]string{}
		for _, rs := range d.Records {
			head := rs.Entity
			if rs.Many {
				head += " many"
			}
			fs := []string{head}
			for _, f := range rs.Fields {
				fs = append(fs, f.Name+" "+f.Type+" "+sharingClass[f.Sharing])
			}
			sets[rs.Name] = fs
		}
		got[code] = sets
	}
	if diff := cmp.Diff(unified, got); diff != "" {
		t.Errorf("mapping files differ from the unified schema (-want +got):\n%s", diff)
	}
}

func TestEnumCodesCoverUnifiedValues(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range load(t) {
		for _, rs := range d.Records {
			for _, f := range rs.Fields {
				if f.Type != connectors.TypeEnum {
					continue
				}
				name := rs.Name + "." + f.Name
				want, ok := enums[name]
				if !ok {
					t.Errorf("%s: enum %s has no unified values in this test", d.Code, name)
					continue
				}
				seen[name] = true
				var values []string
				for _, v := range f.Codes {
					if !slices.Contains(values, v) {
						values = append(values, v)
					}
				}
				for _, v := range values {
					if !slices.Contains(want, v) {
						t.Errorf("%s: %s maps a code onto %q, not a unified value %v", d.Code, name, v, want)
					}
				}
				for _, v := range want {
					if !slices.Contains(values, v) {
						t.Errorf("%s: %s has no source code for %s", d.Code, name, v)
					}
				}
			}
		}
	}
	for name := range enums {
		if !seen[name] {
			t.Errorf("enum %s is in this test but not in the mapping files", name)
		}
	}
}

func TestSourcesReadEnvironment(t *testing.T) {
	defaults := load(t)
	if got := defaults["employment"].Source.REST.APIKey; got != "dev-employment-key" {
		t.Errorf("employment default key = %q", got)
	}
	if got := defaults["civil_affairs"].Source.SQL.DSN; !strings.Contains(got, "dept_civil_affairs") {
		t.Errorf("civil_affairs default DSN = %q", got)
	}
	env := map[string]string{
		"GRIDHUB_DEPT_CIVIL_AFFAIRS_DSN":     "postgres://h/ca",
		"GRIDHUB_DEPT_HEALTH_DSN":            "postgres://h/health",
		"GRIDHUB_DEPT_EMPLOYMENT_URL":        "http://127.0.0.1:1",
		"GRIDHUB_DEPT_EMPLOYMENT_KEY":        "k1",
		"GRIDHUB_DEPT_SOCIAL_SECURITY_URL":   "http://127.0.0.1:2",
		"GRIDHUB_DEPT_SOCIAL_SECURITY_KEY":   "k2",
		"GRIDHUB_DEPT_URBAN_MANAGEMENT_URL":  "http://127.0.0.1:3",
		"GRIDHUB_DEPT_URBAN_MANAGEMENT_KEY":  "k3",
		"GRIDHUB_DEPT_PARTY_BUILDING_LEDGER": "/data/ledger.xlsx",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	ds := load(t)
	got := map[string]string{
		"GRIDHUB_DEPT_CIVIL_AFFAIRS_DSN":     ds["civil_affairs"].Source.SQL.DSN,
		"GRIDHUB_DEPT_HEALTH_DSN":            ds["health"].Source.SQL.DSN,
		"GRIDHUB_DEPT_EMPLOYMENT_URL":        ds["employment"].Source.REST.BaseURL,
		"GRIDHUB_DEPT_EMPLOYMENT_KEY":        ds["employment"].Source.REST.APIKey,
		"GRIDHUB_DEPT_SOCIAL_SECURITY_URL":   ds["social_security"].Source.REST.BaseURL,
		"GRIDHUB_DEPT_SOCIAL_SECURITY_KEY":   ds["social_security"].Source.REST.APIKey,
		"GRIDHUB_DEPT_URBAN_MANAGEMENT_URL":  ds["urban_management"].Source.REST.BaseURL,
		"GRIDHUB_DEPT_URBAN_MANAGEMENT_KEY":  ds["urban_management"].Source.REST.APIKey,
		"GRIDHUB_DEPT_PARTY_BUILDING_LEDGER": ds["party_building"].Source.Sheet.Path,
	}
	if diff := cmp.Diff(env, got); diff != "" {
		t.Errorf("sources ignore the environment (-want +got):\n%s", diff)
	}
}

// writable pins what each department takes from the unified report, as
// "set.field type -> target".
var writable = map[string][]string{
	"civil_affairs": {"dibao.status enum -> dbzt", "dibao.persons int -> bzrs", "tekun.status enum -> tkzt",
		"disability.certificateNumber string -> cjzh", "disability.category enum -> cjlb", "disability.grade int -> cjdj",
		"visit.note string -> zfqk"},
	"health": {"floating.inflowDate date -> lrrq", "floating.originAddress string -> hjdz", "floating.originCode string -> hjdqdm",
		"floating.reason enum -> lryy", "floating.residencePermit bool -> jzzbz", "marriage.maritalStatus enum -> hyzk",
		"marriage.children int -> znsl"},
	"employment": {"unemployment.status enum -> djzt", "unemployment.registeredOn date -> djrq", "unemployment.reason string -> syyy",
		"hardship.category enum -> rdlb"},
	"social_security": {"pension.status enum -> pension.aac008", "medical.scheme enum -> medical.aae140", "medical.status enum -> medical.aac008"},
	"urban_management": {"cases.category string -> category", "cases.description string -> description", "cases.lon decimal -> location.lng",
		"cases.lat decimal -> location.lat", "cases.address string -> location.address"},
	"party_building": {"membership.lastContact date -> 最后联系时间", "membership.outOfContact bool -> 是否失联", "membership.branch string -> 所在支部"},
}

func TestWritableFields(t *testing.T) {
	got := map[string][]string{}
	for code, d := range load(t) {
		for _, w := range d.Writable() {
			got[code] = append(got[code], w.Name()+" "+w.Type+" -> "+w.Target)
			if w.Type == connectors.TypeEnum {
				if want := enums[w.Name()]; !cmp.Equal(w.Values, slices.Sorted(slices.Values(want))) {
					t.Errorf("%s: %s takes %v, want every unified value %v", code, w.Name(), w.Values, want)
				}
			}
		}
	}
	if diff := cmp.Diff(writable, got); diff != "" {
		t.Errorf("writable fields (-want +got):\n%s", diff)
	}
}

// TestDeliveriesInDepartmentConventions encodes one delivery for each
// department and checks it comes out in the department's own codes and
// formats.
func TestDeliveriesInDepartmentConventions(t *testing.T) {
	const id = "340705198001011233"
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := time.Date(2026, 6, 1, 1, 2, 3, 0, time.UTC) // 09:02:03 in China
	cases := map[string]struct {
		fields map[string]any
		want   string
	}{
		"civil_affairs": {map[string]any{"disability.category": "PHYSICAL", "dibao.status": "SUSPENDED", "visit.note": "独居"},
			"sfzh=" + id + " idempotency_key=k tbsj=2026-06-01 09:02:03 dbzt=2 cjlb=4 zfqk=独居"},
		"health": {map[string]any{"floating.inflowDate": day, "marriage.maritalStatus": "MARRIED", "floating.reason": "FAMILY", "floating.residencePermit": false},
			"sfzh=" + id + " idempotency_key=k tbsj=2026-06-01 09:02:03 lrrq=20260301 lryy=04 jzzbz=0 hyzk=20"},
		"employment": {map[string]any{"unemployment.status": "REEMPLOYED", "unemployment.registeredOn": day},
			"sfzh=" + id + " tbsj=2026-06-01 09:02:03 djzt=02 djrq=2026-03-01"},
		"social_security": {map[string]any{"pension.status": "SUSPENDED", "medical.scheme": "RESIDENT"},
			"aac002=" + id + " aae036=20260601090203 pension.aac008=2 medical.aae140=390"},
		"urban_management": {map[string]any{"cases.category": "占道经营", "cases.lon": 117.81},
			"partyIdNo=" + id + " reportTime=2026/06/01 09:02:03 category=占道经营 location.lng=117.81"},
		"party_building": {map[string]any{"membership.lastContact": day, "membership.outOfContact": true},
			"身份证号=" + id + " 报送编号=k 报送时间=2026-06-01 09:02:03 最后联系时间=2026.03.01 是否失联=是"},
	}
	for code, d := range load(t) {
		tc := cases[code]
		vals, err := d.EncodeDelivery(connectors.Delivery{IdempotencyKey: "k", Entity: connectors.Person, Key: strings.ToLower(id), Fields: tc.fields, SubmittedAt: at})
		if err != nil {
			t.Errorf("%s: %v", code, err)
			continue
		}
		var got []string
		for _, v := range vals {
			got = append(got, fmt.Sprintf("%s=%v", v.Target, v.Value))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", code, g, tc.want)
		}
	}
}

func TestEveryRecordSetIsInTheFactFeed(t *testing.T) {
	for code, d := range load(t) {
		if len(d.FactSets()) != len(d.Records) {
			t.Errorf("%s: %d of %d record sets in the fact feed", code, len(d.FactSets()), len(d.Records))
		}
	}
}
