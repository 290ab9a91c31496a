package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestDepartmentsAsData adds departments to a running hub with no Go written
// for them: a configuration directory holds the six built-in departments
// (gridhub config dump) plus a seventh, 退役军人 (veterans), a small JSON
// register this test serves, with a purpose, an indicator, a report field
// and a template of its own. The real binary checks the directory, serves
// it under gridhub dev, and after a SIGHUP serves an eighth department added
// to the directory.
func TestDepartmentsAsData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "gridhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	conf := filepath.Join(t.TempDir(), "config")
	if out, err := exec.Command(bin, "config", "dump", conf).CombinedOutput(); err != nil {
		t.Fatalf("config dump: %v\n%s", err, out)
	}
	writeVeterans(t, conf)

	// gridhub config check: the directory passes; broken copies fail with
	// file:line, a cross-reference naming both files.
	out, err := exec.Command(bin, "config", "check", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "7 departments") || !strings.Contains(string(out), "veterans") {
		t.Fatalf("config check of the good directory: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name, file, old, new string
		want                 []string
	}{
		{"unknown key", "departments/veterans.yaml", "sharing: conditional, identifier: account", "sharng: conditional, identifier: account",
			[]string{filepath.Join(conf+"-broken", "departments/veterans.yaml") + ":", "field sharng not found"}},
		{"missing target", "report/catalogue.yaml", "target: veteran.category}", "target: veteran.rank}",
			[]string{filepath.Join(conf+"-broken", "report/catalogue.yaml") + ":", "departments/veterans.yaml", "veteran.rank"}},
		{"unknown set", "indicators.yaml", "sets: [veteran]", "sets: [veterns]",
			[]string{filepath.Join(conf+"-broken", "indicators.yaml") + ":", "departments/veterans.yaml", `no record set "veterns"`}},
	} {
		broken := conf + "-broken"
		os.RemoveAll(broken)
		if err := os.CopyFS(broken, os.DirFS(conf)); err != nil {
			t.Fatal(err)
		}
		replaceIn(t, filepath.Join(broken, tc.file), tc.old, tc.new)
		out, err := exec.Command(bin, "config", "check", broken).CombinedOutput()
		var exit *exec.ExitError
		if !errorsAs(err, &exit) || exit.ExitCode() != 1 {
			t.Errorf("%s: config check exited %v, want 1\n%s", tc.name, err, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: config check does not say %q:\n%s", tc.name, w, out)
			}
		}
		if !lineNumbered(string(out), filepath.Join(broken, tc.file)) {
			t.Errorf("%s: no file:line for %s in:\n%s", tc.name, tc.file, out)
		}
	}

	vet := newRegister("X-Key", "vet-key", "veterans")
	edu := newRegister("X-Key", "edu-key", "students")
	srvVet, srvEdu := httptest.NewServer(vet), httptest.NewServer(edu)
	defer srvVet.Close()
	defer srvEdu.Close()
	dir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		if target, err := filepath.EvalSymlinks(filepath.Join(dir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})
	hub := startDevWith(t, bin, dir, []string{"--config", conf}, []string{
		"GRIDHUB_DEPT_VETERANS_URL=" + srvVet.URL, "GRIDHUB_DEPT_VETERANS_KEY=vet-key",
		"GRIDHUB_DEPT_EDUCATION_URL=" + srvEdu.URL, "GRIDHUB_DEPT_EDUCATION_KEY=edu-key",
		"GRIDHUB_SYNC_INTERVAL=2s",
	})
	defer hub.stop(t)

	// The register: residents of the city, and rows about no resident.
	residents := readResidents(t, filepath.Join(dir, "truth", "persons.csv.gz"))
	if len(residents) < 100 {
		t.Fatalf("%d residents in the ground truth", len(residents))
	}
	vets := residents[10:50]
	for i, p := range vets {
		vet.add(p.idNumber, map[string]any{"sfzh": p.idNumber, "xm": p.name, "lb": strconv.Itoa(1 + i%3),
			"rwsj": "2001-12-01", "tysj": "2005-12-01", "fxbz": 320.5, "yhkh": fmt.Sprintf("622202%013d", i)})
	}
	vet.add("110101199003070000", map[string]any{"sfzh": "110101199003070000", "lb": "1", "rwsj": "2001-12-01"}) // a wrong check digit: no one
	subject := vets[0]

	// departments lists the seventh department with its fields.
	var deps struct {
		Data struct {
			Departments []deptInfo
		}
	}
	// Healthy is what a health check says now: on a loaded machine one may
	// time out, so the listing is asked for until it says so (or a minute).
	var i int
	for deadline := time.Now().Add(time.Minute); ; {
		gql(t, hub, hub.token, "", `{ departments { code healthy writeback recordSets { name fields { name type sharing identifier } } } }`, nil, &deps)
		i = slices.IndexFunc(deps.Data.Departments, func(d deptInfo) bool {
			return d.Code == "veterans"
		})
		if i >= 0 && deps.Data.Departments[i].Healthy || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if i < 0 {
		t.Fatalf("departments does not list veterans: %+v", deps)
	}
	d := deps.Data.Departments[i]
	if !d.Healthy || len(d.RecordSets) != 1 || d.RecordSets[0].Name != "veteran" || len(d.RecordSets[0].Fields) != 5 ||
		!slices.Equal(d.Writeback, []string{"veteran.category", "visit.note"}) {
		t.Errorf("departments: veterans = %+v", d)
	}
	if f := d.RecordSets[0].Fields[4]; f.Name != "account" || f.Sharing != "conditional" || f.Identifier != "account" {
		t.Errorf("departments: veteran.account = %+v", f)
	}

	// A dept_officer token for the new department is issued and accepted;
	// one for a department nobody configured is refused.
	tok, err := exec.Command(bin, "token", "--role", "dept_officer", "--department", "veterans", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("token --department veterans: %v", err)
	}
	officer := strings.TrimSpace(string(tok))
	if out, err := exec.Command(bin, "token", "--role", "dept_officer", "--department", "police", "--data-dir", dir).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "unknown department") {
		t.Errorf("token for an unconfigured department: %v %s", err, out)
	}

	// Person.records: a conditional field is null with PURPOSE_REQUIRED
	// without a purpose, and shown with one; the account, an identifier, is
	// masked for the department's own officer and shown under the purpose
	// that unmasks it.
	const q = `query($id: String!) { person(idNumber: $id) { name records(department: "veterans") { name source { department stale } records { fields { name value } } } } }`
	type fieldValue struct {
		Name  string
		Value *string
	}
	var rec struct {
		Data struct {
			Person struct {
				Records []struct {
					Name    string
					Records []struct{ Fields []fieldValue }
				}
			}
		}
		Errors []struct {
			Path       []any
			Extensions map[string]any
		}
	}
	value := func(name string) *string {
		rs := rec.Data.Person.Records
		if len(rs) != 1 || len(rs[0].Records) != 1 {
			t.Fatalf("records = %+v", rs)
		}
		for _, f := range rs[0].Records[0].Fields {
			if f.Name == name {
				return f.Value
			}
		}
		t.Fatalf("no field %s", name)
		return nil
	}
	gql(t, hub, hub.token, "", q, map[string]any{"id": subject.idNumber}, &rec)
	if v := value("category"); v == nil || *v != "SOLDIER" {
		t.Errorf("category = %v, want SOLDIER (unconditional)", v)
	}
	if v := value("subsidy"); v != nil {
		t.Errorf("LEAK subsidy = %q without a purpose", *v)
	}
	codes := map[string]string{}
	for _, e := range rec.Errors {
		codes[fmt.Sprint(e.Path)] = fmt.Sprint(e.Extensions["code"])
	}
	if codes["[person records 0 records 0 fields 3 value]"] != "PURPOSE_REQUIRED" || codes["[person records 0 records 0 fields 4 value]"] != "PURPOSE_REQUIRED" {
		t.Errorf("errors without a purpose: %+v, want PURPOSE_REQUIRED at fields 3 and 4", rec.Errors)
	}
	rec.Errors = nil
	gql(t, hub, hub.token, "veteran_care", q, map[string]any{"id": subject.idNumber}, &rec)
	if v := value("subsidy"); v == nil || *v != "320.5" {
		t.Errorf("subsidy under veteran_care = %v, want 320.5", v)
	}
	if v := value("account"); v == nil || *v != "6222020000000000000" {
		t.Errorf("account under veteran_care (which unmasks account) = %v", v)
	}
	if len(rec.Errors) != 0 {
		t.Errorf("errors under veteran_care: %+v", rec.Errors)
	}
	gql(t, hub, officer, "", q, map[string]any{"id": subject.idNumber}, &rec)
	if v := value("account"); v == nil || *v != "***************0000" {
		t.Errorf("account for the department's own officer without a purpose = %v, want masked", v)
	}

	// The indicator of the configuration counts the synced facts: the
	// register's residents, not the row about no one.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var ind struct {
			Data struct {
				Indicators struct {
					Totals []struct {
						Value      *float64
						Suppressed bool
					}
				}
			}
			Errors []any
		}
		gql(t, hub, hub.token, "", `{ indicators(level: DISTRICT, within: "340705", names: ["veteransRegistered"]) { totals { value suppressed } } }`, nil, &ind)
		if tt := ind.Data.Indicators.Totals; len(tt) == 1 && tt[0].Value != nil && *tt[0].Value == float64(len(vets)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indicator veteransRegistered = %+v, want %d\n%s", ind, len(vets), tail(hub.log.String()))
		}
		time.Sleep(time.Second)
	}

	// The template of the configuration: pre-filled from the register,
	// delivered to its inbox once (a repeated submission too).
	var draft struct {
		Data struct {
			ReportDraft struct {
				Fields []struct {
					Field string
					Value *string
				}
			}
		}
	}
	gql(t, hub, hub.token, "", fmt.Sprintf(`{ reportDraft(template: "veteran_visit", subject: "%s") { fields { field value } } }`, subject.id), nil, &draft)
	prefilled := false
	for _, f := range draft.Data.ReportDraft.Fields {
		if f.Field == "veterans.veteran.category" && f.Value != nil && *f.Value == "SOLDIER" {
			prefilled = true
		}
	}
	if !prefilled {
		t.Errorf("draft of veteran_visit: %+v, want category SOLDIER pre-filled", draft)
	}
	submit := fmt.Sprintf(`mutation { submitReport(input: {template: "veteran_visit", version: 1, subject: "%s", idempotencyKey: "vet-visit-1",
		values: [{field: "veterans.veteran.category", value: "OFFICER"}, {field: "veterans.visit.note", value: "已走访, 身体健康"}]}) { id status } }`, subject.id)
	var sub struct {
		Data struct {
			SubmitReport struct{ ID, Status string }
		}
		Errors []any
	}
	gql(t, hub, hub.token, "", submit, nil, &sub)
	if sub.Data.SubmitReport.ID == "" {
		t.Fatalf("submitReport: %+v", sub)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		var s struct {
			Data struct {
				Submission struct{ Status string }
			}
		}
		gql(t, hub, hub.token, "", fmt.Sprintf(`{ submission(id: "%s") { status } }`, sub.Data.SubmitReport.ID), nil, &s)
		if s.Data.Submission.Status == "DELIVERED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("submission %s not delivered: %+v\n%s", sub.Data.SubmitReport.ID, s, tail(hub.log.String()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	var again struct {
		Data struct {
			SubmitReport struct{ ID string }
		}
	}
	gql(t, hub, hub.token, "", submit, nil, &again)
	if again.Data.SubmitReport.ID != sub.Data.SubmitReport.ID {
		t.Errorf("the same idempotency key made submission %s, then %s", sub.Data.SubmitReport.ID, again.Data.SubmitReport.ID)
	}
	time.Sleep(time.Second)
	inbox := vet.deliveries()
	if len(inbox) != 1 {
		t.Fatalf("the veterans inbox holds %d deliveries, want exactly 1: %v", len(inbox), inbox)
	}
	for _, body := range inbox {
		if body["sfzh"] != subject.idNumber || body["lb"] != "2" || body["zfqk"] != "已走访, 身体健康" {
			t.Errorf("delivery body = %v, want sfzh, lb 2 (OFFICER in the register's codes), zfqk", body)
		}
	}

	// An eighth department, added to the directory, is readable after a
	// SIGHUP, without a restart.
	writeEducation(t, conf)
	edu.add(subject.idNumber, map[string]any{"sfzh": subject.idNumber, "xx": "铜陵市第一中学", "nj": "高二"})
	if err := hub.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		var r struct {
			Data struct {
				Person struct {
					Records []struct {
						Records []struct{ Fields []fieldValue }
					}
				}
			}
		}
		gql(t, hub, hub.token, "", `query($id: String!) { person(idNumber: $id) { records(department: "education") { records { fields { name value } } } } }`,
			map[string]any{"id": subject.idNumber}, &r)
		if rs := r.Data.Person.Records; len(rs) == 1 && len(rs[0].Records) == 1 {
			if f := rs[0].Records[0].Fields[0]; f.Value == nil || *f.Value != "铜陵市第一中学" {
				t.Errorf("education.student.school = %+v", f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the eighth department is not readable 30 s after SIGHUP: %+v\n%s", r, tail(hub.log.String()))
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(hub.log.String(), "configuration reloaded") {
		t.Errorf("no reload in the log:\n%s", tail(hub.log.String()))
	}
}

// deptInfo is a department as the departments query describes it.
type deptInfo struct {
	Code       string
	Healthy    bool
	Writeback  []string
	RecordSets []struct {
		Name   string
		Fields []struct{ Name, Type, Sharing, Identifier string }
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

// lineNumbered tells whether out names file with a line number.
func lineNumbered(out, file string) bool {
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, file+":")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ":")
		if v, err := strconv.Atoi(n); err == nil && v > 0 {
			return true
		}
	}
	return false
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// writeVeterans adds the seventh department to a configuration directory:
// its mapping file (written after connectors/rest/sample.yaml), a purpose,
// an indicator, two report fields and a template.
func writeVeterans(t *testing.T, conf string) {
	t.Helper()
	mapping := `# 退役军人事务 (veterans affairs): the register of veterans, a JSON API.
code: veterans
name: 退役军人
kind: rest
description: "退役军人: the register of veterans and their allowances."
timeout: 2s
source:
  rest:
    base_url: ${GRIDHUB_DEPT_VETERANS_URL}
    api_key_header: X-Key
    api_key: ${GRIDHUB_DEPT_VETERANS_KEY}
feed: {path: /api/changes, items: items, next: next, more: more}
records:
  - name: veteran
    label: 退役军人登记
    entity: person
    key: sfzh
    request: {method: GET, path: /api/veterans, keys_param: ids, items: items}
    facts: {resource: veterans}
    fields:
      - name: category
        label: 人员类别
        from: lb
        type: enum
        codes: {"1": SOLDIER, "2": OFFICER, "3": DISABLED}
        sharing: unconditional
      - {name: enlistedOn, label: 入伍时间, from: rwsj, type: date, sharing: unconditional}
      - {name: dischargedOn, label: 退役时间, from: tysj, type: date, sharing: unconditional}
      - {name: subsidy, label: 优抚金(元/月), from: fxbz, type: decimal, sharing: conditional}
      - {name: account, label: 优抚金账号, from: yhkh, type: string, sharing: conditional, identifier: account}
writeback:
  path: /api/inbox
  key: sfzh
  submitted_at: tbsj
  fields:
    - {field: veteran.category, to: lb}
    - {field: visit.note, label: 走访情况, type: string, to: zfqk}
`
	if err := os.WriteFile(filepath.Join(conf, "departments", "veterans.yaml"), []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(conf, "policy.yaml"), `
  - code: veteran_care
    label: 优抚走访
    roles: [dept_officer, grid_worker, community_admin, admin]
    departments: [veterans]
    fields: [veterans.*]
    unmask: [account]
`)
	appendTo(t, filepath.Join(conf, "indicators.yaml"), `
- name: veteransRegistered
  label: 登记退役军人
  department: veterans
  unit: 人
  definition: 退役军人登记中的居民人数。
  count: {of: facts, sets: [veteran], distinct: person}
`)
	appendTo(t, filepath.Join(conf, "report", "catalogue.yaml"), `
  - key: veterans.veteran.category
    label: 退役军人类别
    department: veterans
    type: enum
    values:
      - {value: SOLDIER, label: 退役士兵}
      - {value: OFFICER, label: 军转干部}
      - {value: DISABLED, label: 伤残军人}
    sensitivity: personal
    writeback: {department: veterans, target: veteran.category}

  - key: veterans.visit.note
    label: 走访情况
    department: veterans
    type: string
    append: true
    sensitivity: personal
    writeback: {department: veterans, target: visit.note}
`)
	tpl := `id: veteran_visit
version: 1
title: 退役军人走访
subject: person
sections:
  - title: 退役军人
    fields:
      - field: veterans.veteran.category
      - field: veterans.visit.note
`
	if err := os.WriteFile(filepath.Join(conf, "report", "templates", "veteran_visit.v1.yaml"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeEducation adds an eighth department: students, by the same API shape.
func writeEducation(t *testing.T, conf string) {
	t.Helper()
	mapping := `code: education
name: 教育
kind: rest
source:
  rest:
    base_url: ${GRIDHUB_DEPT_EDUCATION_URL}
    api_key_header: X-Key
    api_key: ${GRIDHUB_DEPT_EDUCATION_KEY}
records:
  - name: student
    label: 在校学生
    entity: person
    key: sfzh
    request: {method: GET, path: /api/students, keys_param: ids, items: items}
    fields:
      - {name: school, label: 就读学校, from: xx, type: string, sharing: unconditional}
      - {name: grade, label: 年级, from: nj, type: string, sharing: unconditional}
`
	if err := os.WriteFile(filepath.Join(conf, "departments", "education.yaml"), []byte(mapping), 0o644); err != nil {
		t.Fatal(err)
	}
}

// register is a department source for the test: a JSON register served
// with an API key, a batch lookup (GET /api/<resource>?ids=a,b), a changes
// feed and an inbox that keeps each delivery by its Idempotency-Key.
type register struct {
	header, key, resource string
	mu                    sync.Mutex
	rows                  []registerRow
	inbox                 map[string]map[string]any
}

type registerRow struct {
	id  string
	rec map[string]any
}

func newRegister(header, key, resource string) *register {
	return &register{header: header, key: key, resource: resource, inbox: map[string]map[string]any{}}
}

func (g *register) add(id string, rec map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.rows = append(g.rows, registerRow{id, rec})
}

func (g *register) deliveries() map[string]map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]map[string]any{}
	for k, v := range g.inbox {
		out[k] = v
	}
	return out
}

func (g *register) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/health" {
		io.WriteString(w, `{"status":"UP"}`)
		return
	}
	if r.Header.Get(g.header) != g.key {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"unauthorized"}`)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/"+g.resource:
		ids := strings.Split(r.URL.Query().Get("ids"), ",")
		items := []map[string]any{}
		for _, row := range g.rows {
			if slices.Contains(ids, row.id) {
				items = append(items, row.rec)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items})
	case r.Method == http.MethodGet && r.URL.Path == "/api/changes":
		// The register never changes a row: the watermark is the row count.
		since, _ := strconv.Atoi(r.URL.Query().Get("since"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		end := min(len(g.rows), since+max(limit, 1))
		items := []map[string]any{}
		for i := since; i < end; i++ {
			items = append(items, map[string]any{"resource": g.resource, "id": strconv.Itoa(i), "record": g.rows[i].rec})
		}
		json.NewEncoder(w).Encode(map[string]any{"items": items, "next": strconv.Itoa(end), "more": end < len(g.rows)})
	case r.Method == http.MethodPost && r.URL.Path == "/api/inbox":
		key := r.Header.Get("Idempotency-Key")
		var body map[string]any
		if key == "" || json.NewDecoder(r.Body).Decode(&body) != nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":"bad delivery"}`)
			return
		}
		if _, seen := g.inbox[key]; !seen {
			g.inbox[key] = body
		}
		io.WriteString(w, `{"result":"accepted"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"error":"not found"}`)
	}
}

type resident struct{ id, idNumber, name string }

// readResidents reads the generator's ground truth of the master index.
func readResidents(t *testing.T, path string) []resident {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(zr).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var out []resident
	for _, r := range rows[1:] {
		out = append(out, resident{id: r[col["id"]], idNumber: r[col["id_number"]], name: r[col["name"]]})
	}
	return out
}

// startDevWith starts gridhub dev with extra flags and environment.
func startDevWith(t *testing.T, bin, dir string, args, env []string) *devProcess {
	t.Helper()
	return startDevCmd(t, exec.Command(bin, append([]string{"dev", "--data-dir", dir, "--port", "0", "--residents", "3000"}, args...)...), env)
}

// gql posts a query with a token and a purpose ("" for none) and decodes
// the answer into out.
func gql(t *testing.T, p *devProcess, token, purpose, query string, vars map[string]any, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", p.graphql, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if purpose != "" {
		req.Header.Set("X-Purpose", purpose)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, raw)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}
