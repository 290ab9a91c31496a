// Package deptsim simulates the six department systems behind the hub: the
// legacy databases of 民政 (civil_affairs) and 卫健/计生 (health), the HTTP JSON
// APIs of 就业 (employment), 社保 (social_security) and 城管 (urban_management),
// and the .xlsx ledger (台账) of 党建 (party_building).
//
// Build derives each department's view of a generated city (internal/synth)
// with realistic rates (about 1.5% of residents on 低保, everyone 80+ on the
// elderly allowance, 90% pension coverage, ...) and realistic noise: 同音字
// typos in names, stale addresses, missing or wrong-check ID numbers, 15-digit
// first-generation numbers, a lower-case x, duplicate rows, and people dead in
// one source and still active in another. Every piece of noise is recorded in
// the ground truth (Truth), so record matching and data quality can be scored.
//
// Each department keeps its own conventions, as real ones do: pinyin column
// names and code tables, dates as DATE in one database and char(8) 'YYYYMMDD' in
// the other, different API-key headers, date formats, envelopes, batch lookups
// and paging in the three APIs. The built-in mapping files (internal/config/builtin/departments) map
// them onto the unified record sets; README.md there documents each source.
//
// The pieces: Build makes a Dataset in memory; LoadSQL creates and loads a SQL
// department's legacy database; WriteFiles writes what the HTTP simulators and
// the ledger need, plus the ground truth; NewServer serves one HTTP department
// from those files; Env gives the variables the mapping files read.
//
// For the unified report's write-back each department has an inbox: a table
// in the SQL databases (InboxTable), an idempotent, durable POST <prefix>/inbox
// in the HTTP simulators (inbox.go), a workbook beside the ledger
// (LedgerInboxPath). For incremental fact-feed tests TouchSQL, Server.Touch and
// TouchLedger change a department as its clerks would.
package deptsim

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Department codes, as in the mapping files and CONTRACT.md.
const (
	CivilAffairs    = "civil_affairs"
	Health          = "health"
	Employment      = "employment"
	SocialSecurity  = "social_security"
	UrbanManagement = "urban_management"
	PartyBuilding   = "party_building"
)

// Connector kinds of the departments.
const (
	KindSQL   = "sql"
	KindREST  = "rest"
	KindSheet = "sheet"
)

var depts = []struct {
	code, name, kind string
	port             int // default port of the simulator (rest only)
}{
	{CivilAffairs, "民政", KindSQL, 0},
	{Health, "卫健", KindSQL, 0},
	{Employment, "就业", KindREST, 18081},
	{SocialSecurity, "社保", KindREST, 18082},
	{UrbanManagement, "城管", KindREST, 18083},
	{PartyBuilding, "党建", KindSheet, 0},
}

// Departments lists the six department codes in a fixed order.
func Departments() []string {
	out := make([]string, len(depts))
	for i, d := range depts {
		out[i] = d.code
	}
	return out
}

// Kind is the connector kind of dept (sql, rest or sheet), "" for an unknown code.
func Kind(dept string) string {
	for _, d := range depts {
		if d.code == dept {
			return d.kind
		}
	}
	return ""
}

// Name is the department's short Chinese name (民政), "" for an unknown code.
func Name(dept string) string {
	for _, d := range depts {
		if d.code == dept {
			return d.name
		}
	}
	return ""
}

// DefaultPort is the port a REST department's simulator listens on unless told
// otherwise; the mapping files' default URLs point there. 0 for other kinds.
func DefaultPort(dept string) int {
	for _, d := range depts {
		if d.code == dept {
			return d.port
		}
	}
	return 0
}

// DefaultAPIKey is the development API key of a REST department's simulator,
// and the default of its mapping file's key variable.
func DefaultAPIKey(dept string) string {
	if Kind(dept) != KindREST {
		return ""
	}
	return "dev-" + strings.ReplaceAll(dept, "_", "-") + "-key"
}

// DatabaseName is the name the dev cluster gives a SQL department's database
// (dept_civil_affairs, dept_health); "" for other kinds.
func DatabaseName(dept string) string {
	if Kind(dept) != KindSQL {
		return ""
	}
	return "dept_" + dept
}

// LedgerFile is the party_building ledger's file name under WriteFiles' dir.
const LedgerFile = "party_building/ledger.xlsx"

// LedgerPath is the party_building ledger WriteFiles writes under dir.
func LedgerPath(dir string) string { return filepath.Join(dir, filepath.FromSlash(LedgerFile)) }

// Endpoint is where one department's simulated system can be reached; only the
// fields of its kind matter.
type Endpoint struct {
	DSN    string // sql: the database URL
	URL    string // rest: base URL, e.g. http://127.0.0.1:18081
	APIKey string // rest: the key the simulator was started with
	Ledger string // sheet: path of the .xlsx ledger
}

// envPrefix is the common prefix of the mapping files' variables.
func envPrefix(dept string) string { return "GRIDHUB_DEPT_" + strings.ToUpper(dept) }

// EnvNames lists the environment variables dept's mapping file reads.
func EnvNames(dept string) []string {
	p := envPrefix(dept)
	switch Kind(dept) {
	case KindSQL:
		return []string{p + "_DSN"}
	case KindREST:
		return []string{p + "_URL", p + "_KEY"}
	case KindSheet:
		return []string{p + "_LEDGER"}
	}
	return nil
}

// Env is the environment that points dept's mapping file at e, for example
// GRIDHUB_DEPT_EMPLOYMENT_URL and GRIDHUB_DEPT_EMPLOYMENT_KEY. Empty fields of
// e are left out, so the file's defaults apply.
func Env(dept string, e Endpoint) map[string]string {
	p := envPrefix(dept)
	out := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	switch Kind(dept) {
	case KindSQL:
		set(p+"_DSN", e.DSN)
	case KindREST:
		set(p+"_URL", e.URL)
		set(p+"_KEY", e.APIKey)
	case KindSheet:
		set(p+"_LEDGER", e.Ledger)
	}
	return out
}

func checkDept(dept, kind string) error {
	k := Kind(dept)
	if k == "" {
		return fmt.Errorf("deptsim: unknown department %q (want one of %s)", dept, strings.Join(Departments(), ", "))
	}
	if kind != "" && k != kind {
		return fmt.Errorf("deptsim: department %s is a %s source, not %s", dept, k, kind)
	}
	return nil
}

// cst is China Standard Time: the departments' clocks.
var cst = time.FixedZone("CST", 8*60*60)

// Money is an amount in fen (分, 1/100 yuan), kept whole so sums stay exact.
type Money int64

// Yuan makes a Money from whole yuan.
func Yuan(y int64) Money { return Money(y * 100) }

// String is the amount in yuan with two decimals, as numeric(10,2) and the
// APIs write it: "1250.00".
func (m Money) String() string {
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return sign + strconv.FormatInt(int64(m)/100, 10) + "." + fmt.Sprintf("%02d", int64(m)%100)
}

// Float is the amount in yuan as a float, for JSON numbers.
func (m Money) Float() float64 { return float64(m) / 100 }
