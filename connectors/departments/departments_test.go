package departments_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/departments"
)

// unified is the unified schema the GraphQL side is written against: per
// department, per record set, its entity and many flag, then each field as
// "name type sharing" (U unconditional, C conditional, N none).
var unified = map[string]map[string][]string{
	"civil_affairs": {
		"dibao":            {"person", "householdNumber string U", "amount decimal C", "persons int U", "since date U", "until date U", "status enum U"},
		"tekun":            {"person", "category enum U", "careMode enum U", "since date U", "status enum U"},
		"elderlyAllowance": {"person", "band enum U", "monthlyAmount decimal C", "since date U"},
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
	ds, err := connectors.LoadDepartmentsFS(departments.Files, "connectors/departments")
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
