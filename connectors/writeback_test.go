package connectors

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// restDept is a small rest department with a feed and a writeback block; the
// tests below break one line of it at a time.
const restDept = `code: dept
name: 部门
kind: rest
source:
  rest: {base_url: "http://127.0.0.1:1"}
feed: {path: /changes, items: data.list, next: data.next, more: data.more}
records:
  - name: reg
    entity: person
    key: sfzh
    request: {method: GET, path: /reg, keys_param: sfzh}
    fields:
      - {name: status, from: zt, type: enum, codes: {"1": ACTIVE, "2": ENDED, "3": ENDED}, sharing: unconditional}
      - {name: since, from: kssj, type: date, format: "20060102", sharing: unconditional}
      - {name: active, from: yx, type: bool, sharing: unconditional}
      - {name: persons, from: rs, type: int, sharing: unconditional}
    facts: {resource: reg}
writeback:
  path: /inbox
  key: sfzh
  submitted_at: tbsj
  fields:
    - {field: reg.status, to: zt}
    - {field: reg.since, to: kssj}
    - {field: reg.active, to: yx, format: "是,否"}
    - {field: reg.persons, to: info.rs}
    - {field: visit.note, type: string, to: bz}
    - {field: visit.kind, type: enum, codes: {HOME: "01", PHONE: "02"}, to: lx}
`

func TestWriteBackAndFactsValidation(t *testing.T) {
	if _, err := ParseDepartment("dept.yaml", []byte(restDept)); err != nil {
		t.Fatalf("the base department: %v", err)
	}
	cases := []struct {
		old, new string
		want     string
	}{
		{"path: /inbox", "path: inbox", "dept.yaml:19: writeback.path: path (the inbox endpoint"},
		{"path: /inbox", "path: /inbox\n  table: x", "dept.yaml:20: writeback.table: table applies to the sql kind only"},
		{"  key: sfzh\n  submitted_at", "  submitted_at", "dept.yaml:18: writeback.key: key (the department's field"},
		{"submitted_at: tbsj", "submitted_at: zt", "dept.yaml:23: writeback.fields[0].to: reg.status goes to zt, as the submission time does"},
		{"{field: reg.since, to: kssj}", "{field: reg.sinc, to: kssj}", "dept.yaml:24: writeback.fields[1].field: record set reg has no field sinc"},
		{"{field: reg.since, to: kssj}", "{field: since, to: kssj}", `dept.yaml:24: writeback.fields[1].field: field "since" is not a unified field name`},
		{"{field: reg.since, to: kssj}", "{field: reg.status, to: kssj}", "writeback.fields[1].field: field reg.status is listed twice"},
		{"{field: reg.since, to: kssj}", "{field: reg.since, to: kssj, format: YYYY}", `writeback.fields[1].format: date format "YYYY" is not a Go layout`},
		{`format: "是,否"`, `format: "是"`, `dept.yaml:25: writeback.fields[2].format: a bool's format is "true value,false value"`},
		{"{field: reg.persons, to: info.rs}", "{field: reg.persons, to: info.rs, type: date}", "writeback.fields[3].type: type date differs from the record set's int"},
		{"{field: reg.persons, to: info.rs}", "{field: reg.persons, to: info.rs, codes: {A: b}}", "writeback.fields[3].codes: codes apply to enums"},
		{"{field: visit.note, type: string, to: bz}", "{field: visit.note, to: bz}", "dept.yaml:27: writeback.fields[4].type: type is required for a report-only field"},
		{"codes: {HOME: \"01\", PHONE: \"02\"}, ", "", "writeback.fields[5].codes: a report-only enum needs codes"},
		{"{field: reg.status, to: zt}", "{field: reg.status, to: zt, codes: {PAUSED: \"9\"}}", `writeback.fields[0].codes: "PAUSED" is not a unified value of reg.status`},
		{"{field: reg.status, to: zt}", "{field: reg.status}", "writeback.fields[0].to: to (the department's field) is required"},
		{"    facts: {resource: reg}", "    facts: {query: x}", "dept.yaml:17: records[0].facts.query: query applies to the sql kind only"},
		{"    facts: {resource: reg}", "    facts: {id: x}", "records[0].facts.resource: resource (the resource name"},
		{"feed: {path: /changes, items: data.list, next: data.next, more: data.more}", "feed: {path: /changes, items: data.list}", "dept.yaml:6: feed.next: next (the dotted path"},
		{"feed: {path: /changes, items: data.list, next: data.next, more: data.more}\n", "", "records[0].facts: a rest record set in the fact feed needs the department's feed block"},
		{"  key: sfzh\n  submitted_at", "  key: sfzh\n  inbox: /x\n  submitted_at", "field inbox not found in type connectors.WriteBack"},
	}
	for _, tc := range cases {
		if !strings.Contains(restDept, tc.old) {
			t.Fatalf("the base department has no %q", tc.old)
		}
		_, err := ParseDepartment("dept.yaml", []byte(strings.Replace(restDept, tc.old, tc.new, 1)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q -> %q: err = %v, want it to contain %q", tc.old, tc.new, err, tc.want)
		}
	}
}

func TestKindSpecificBlocks(t *testing.T) {
	sql := `code: dept
name: 部门
kind: sql
source: {sql: {dsn: x}}
records:
  - name: reg
    entity: person
    key: sfzh
    query: SELECT sfzh FROM t WHERE sfzh = ANY($1)
    facts:
      query: SELECT sfzh FROM t WHERE gxsj > $1 LIMIT $3
      updated: gxsj
writeback:
  table: Inbox
  key: sfzh
  fields: [{field: visit.note, type: string, to: Bz}]
`
	_, err := ParseDepartment("sql.yaml", []byte(sql))
	for _, want := range []string{
		"sql.yaml:11: records[0].facts.query: the facts query takes the last updated-at as $1, the last id as $2",
		"sql.yaml:10: records[0].facts.id: id (the integer primary-key column",
		"sql.yaml:14: writeback.table: table (the inbox table",
		`sql.yaml:16: writeback.fields[0].to: column "Bz" is not a lower-case SQL name`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	d, err := ParseDepartment("sql.yaml", []byte(strings.NewReplacer("Inbox", "sb_inbox", "Bz", "bz", "$1 LIMIT", "$1 AND id > $2 LIMIT", "updated: gxsj", "updated: gxsj\n      id: id").Replace(sql)))
	if err != nil {
		t.Fatal(err)
	}
	if wb := d.WriteBack; wb.IdempotencyKey != DefaultIdempotencyField || wb.TimeFormat != DefaultTimeFormat {
		t.Errorf("defaults: %+v", wb)
	}
}

func TestWritable(t *testing.T) {
	d, err := ParseDepartment("dept.yaml", []byte(restDept))
	if err != nil {
		t.Fatal(err)
	}
	want := []WritableField{
		{Set: "reg", Field: "status", Entity: Person, Type: TypeEnum, Target: "zt", Values: []string{"ACTIVE", "ENDED"}},
		{Set: "reg", Field: "since", Entity: Person, Type: TypeDate, Target: "kssj"},
		{Set: "reg", Field: "active", Entity: Person, Type: TypeBool, Target: "yx"},
		{Set: "reg", Field: "persons", Entity: Person, Type: TypeInt, Target: "info.rs"},
		{Set: "visit", Field: "note", Entity: Person, Type: TypeString, Target: "bz"},
		{Set: "visit", Field: "kind", Entity: Person, Type: TypeEnum, Target: "lx", Values: []string{"HOME", "PHONE"}},
	}
	if diff := cmp.Diff(want, d.Writable()); diff != "" {
		t.Errorf("Writable() (-want +got):\n%s", diff)
	}
}

func TestEncodeDelivery(t *testing.T) {
	d, err := ParseDepartment("dept.yaml", []byte(restDept))
	if err != nil {
		t.Fatal(err)
	}
	id := mustResidentID(t, time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), 3)
	del := Delivery{IdempotencyKey: "k", Entity: Person, Key: " " + strings.ToLower(id), SubmittedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Fields: map[string]any{
		"reg.status": "ENDED", "reg.since": date(2026, 2, 28), "reg.active": false, "reg.persons": 4, "visit.note": nil, "visit.kind": "PHONE",
	}}
	got, err := d.EncodeDelivery(del)
	if err != nil {
		t.Fatal(err)
	}
	want := []WriteValue{{"sfzh", id}, {"tbsj", "2026-01-02 11:04:05"}, {"zt", "2"}, {"kssj", "20260228"}, {"yx", "否"},
		{"info.rs", int64(4)}, {"bz", nil}, {"lx", "02"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EncodeDelivery (-want +got):\n%s", diff)
	}

	bad := []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"reg.persons": "4"}, `field reg.persons: want int, found "4"`},
		{map[string]any{"reg.persons": 4.5}, `field reg.persons: want int, found number "4.5"`},
		{map[string]any{"reg.since": "2026-02-28"}, "field reg.since: want date"},
		{map[string]any{"reg.status": "PAUSED"}, `field reg.status: "PAUSED" is not one of ACTIVE, ENDED`},
		{map[string]any{"reg.nope": 1, "other.x": 2}, "field other.x: not taken by department dept; field reg.nope: not taken"},
	}
	for _, b := range bad {
		del.Fields = b.fields
		_, err := d.EncodeDelivery(del)
		var perm *PermanentError
		if !errors.As(err, &perm) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("fields %v: err = %v, want a permanent error containing %q", b.fields, err, b.want)
		}
	}
	del.Fields = map[string]any{"visit.note": "x"}
	del.Entity = Organization
	if _, err := d.EncodeDelivery(del); err == nil || strings.Contains(err.Error(), id) {
		t.Errorf("a person's ID as an organisation: err = %v, want an error not showing the number", err)
	}
	d.WriteBack = nil
	if _, err := d.EncodeDelivery(del); !errors.Is(err, ErrNoWriteBack) {
		t.Errorf("no writeback block: err = %v", err)
	}
}
