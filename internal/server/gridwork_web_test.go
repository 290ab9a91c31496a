package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	jpegenc "image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gridhub/gridhub/internal/auth"
)

// phone is the viewport the daily pages are tested in: a phone held upright.
const phoneW, phoneH = 390, 844

// workerToken is a dev token of a grid worker of grid.
func (h *hub) workerToken(t *testing.T, subject, grid string) string {
	t.Helper()
	tok, err := auth.DevToken(testKey, auth.Principal{Subject: subject, Roles: []auth.Role{auth.GridWorker}, Scope: []string{grid}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The diary page on a phone: a grid worker records a patrol, then a diary
// entry about a household visited; an entry without text is refused at its
// field and nothing is stored.
func TestDiaryPage(t *testing.T) {
	h := newWorkHub(t, devPages)
	ctx := context.Background()
	own, _ := twoGrids(t, h.fx.City)
	p := newPage(t, phoneW, phoneH, true)
	p.signIn(h.srv.URL+"/diary", h.workerToken(t, "wgy-101", own.GridCode))
	p.wait("the patrol form", `!!document.querySelector('#record-patrol')`)

	p.do(chromedp.Click(chromedp.CSS("#record-patrol")))
	p.wait("the patrol recorded", `!document.querySelector('#patrol-done').hidden`)

	// Nothing heard: refused at the field.
	p.wait("the households", `document.querySelectorAll('#households .chip').length > 0`)
	p.fill("#category", "SAFETY")
	p.do(chromedp.Click(chromedp.CSS("#save-entry")))
	p.wait("the error at the field", `document.querySelector('.field[data-field="heard"]').classList.contains('invalid')`)

	p.eval(`document.querySelector('#households .chip').click(), true`, nil)
	p.fill("#heard", "楼道堆放杂物，存在消防隐患，已提醒住户清理")
	p.fill("#help", "联系物业当天清运")
	p.do(chromedp.Click(chromedp.CSS("#save-entry")))
	p.wait("the entry saved", `!document.querySelector('#entry-done').hidden`)
	p.wait("the entry listed", `(document.querySelector('#entries') || {textContent: ''}).textContent.includes('消防隐患')`)
	if got := p.text("#entries .badge"); got != "安全隐患" {
		t.Errorf("the entry's category shows %q", got)
	}
	p.eval(`window.scrollTo(0, 0), true`, nil)
	p.screenshot("diary.png", true, true)
	p.noErrors()

	var patrols, entries, households int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM patrols WHERE worker = 'wgy-101'),
		(SELECT count(*) FROM diary_entries WHERE worker = 'wgy-101' AND patrol_id IS NOT NULL),
		(SELECT coalesce(sum(cardinality(household_ids)), 0) FROM diary_entries)`).Scan(&patrols, &entries, &households); err != nil {
		t.Fatal(err)
	}
	if patrols != 1 || entries != 1 || households != 1 {
		t.Errorf("stored %d patrols, %d entries in a patrol naming %d households; want 1, 1, 1", patrols, entries, households)
	}
	if w := p.text("#entries .meta:last-child"); !strings.Contains(w, "走访 1 户") {
		t.Errorf("the entry's line says %q", w)
	}
}

// photoFile writes a real JPEG (a 96x64 picture) to a temporary file.
func photoFile(t *testing.T) (string, []byte) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for x := 0; x < 96; x++ {
		for y := 0; y < 64; y++ {
			img.Set(x, y, color.RGBA{uint8(60 + x), uint8(90 + y), 140, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpegenc.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "井盖.jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, buf.Bytes()
}

// The event page on a phone: a worker describes a broken manhole cover with
// a photo; a report without a description is refused at its field; the
// event is listed with its delivery, and its photo is shown (fetched with
// the token).
func TestEventPage(t *testing.T) {
	h, _, cs := newEventsHub(t, devPages)
	own, _ := twoGrids(t, h.fx.City)
	lon, lat := buildingOf(h.fx.City, own)
	path, data := photoFile(t)
	p := newPage(t, phoneW, phoneH, true)
	p.signIn(h.srv.URL+"/event", h.workerToken(t, "wgy-301", own.GridCode))
	p.wait("the report form", `!!document.querySelector('#send')`)

	p.fill("#kind", "COMPONENT")
	p.fill("#category", "井盖破损")
	p.fill("#lon", fmt.Sprint(lon))
	p.fill("#lat", fmt.Sprint(lat))
	p.do(chromedp.Click(chromedp.CSS("#send")))
	p.wait("the error at the field", `document.querySelector('.field[data-field="description"]').classList.contains('invalid')`)

	p.fill("#description", "人行道井盖松动，行人经过有踩空危险")
	p.fill("#address", "1栋前人行道")
	p.do(chromedp.SetUploadFiles(chromedp.CSS("#photos"), []string{path}))
	p.wait("the thumbnail", `document.querySelectorAll('#thumbs img').length === 1`)
	p.do(chromedp.Click(chromedp.CSS("#send")))
	p.wait("the event reported", `!document.querySelector('#report-done').hidden`)
	p.wait("the event listed with its photo", `!!document.querySelector('#events .item .photos img')`)
	if got := p.text("#events .item .title"); got != "井盖破损" {
		t.Errorf("the event's title shows %q", got)
	}
	waitFor(t, "the department's case", func() bool { return len(cs.deliveries()) == 1 })
	p.eval(`window.scrollTo(0, 0), true`, nil)
	p.screenshot("event.png", true, true)
	p.noErrors()

	var stored []byte
	if err := h.fx.Store.Pool.QueryRow(context.Background(), `SELECT bytes FROM grid_event_photos`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, data) {
		t.Errorf("the stored photo differs from the one uploaded (%d bytes, want %d)", len(stored), len(data))
	}
}

// The approval page on a phone: street staff see the template a department
// submitted for their street, with its fields; a rejection without a
// reason is refused at the field; the approval is recorded and shown.
func TestApprovalsPage(t *testing.T) {
	h, _ := newPagesHub(t)
	ps := personsOfStreets(t, h.fx.City, 2)
	sa, sb := ps[0].GridCode[:9], ps[1].GridCode[:9]
	officer := h.as(auth.Principal{Subject: "mz-officer", Roles: []auth.Role{auth.DeptOfficer}, Department: "civil_affairs"}).with("")
	officer.mustQuery(draftTemplate, map[string]any{"in": map[string]any{"id": "dibao_visit", "title": "低保家庭走访核查",
		"streets": []string{sa, sb}, "sections": []map[string]any{{"title": "走访情况", "fields": []map[string]any{
			{"field": "core.person.residence", "required": true}, {"field": "civil_affairs.visit.note"}}}}}}, nil)
	officer.mustQuery(submitTemplate, map[string]any{"id": "dibao_visit", "v": 1}, nil)

	tok, err := auth.DevToken(testKey, auth.Principal{Subject: "jd-admin", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{sa}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := newPage(t, phoneW, phoneH, true)
	p.signIn(h.srv.URL+"/approvals", tok)
	p.wait("the pending template", `!!document.querySelector('#drafts .approve')`)
	if got := p.text("#summary"); got != "待审批 1 份" {
		t.Errorf("summary %q", got)
	}
	if body := p.text("#drafts"); !strings.Contains(body, "走访情况") || !strings.Contains(body, "民政") {
		t.Errorf("the template's card says %q", body)
	}
	p.do(chromedp.Click(chromedp.CSS("#drafts .reject")))
	p.wait("the error at the reason", `document.querySelector('.field[data-field="reason"]').classList.contains('invalid')`)
	p.eval(`window.scrollTo(0, 0), true`, nil)
	p.screenshot("approvals.png", true, true)
	p.do(chromedp.Click(chromedp.CSS("#drafts .approve")))
	p.wait("the approval shown", `!!document.querySelector('#drafts [data-decision="APPROVED"]')`)
	p.noErrors()

	var decided string
	if err := h.fx.Store.Pool.QueryRow(context.Background(), `SELECT street || ':' || decision FROM report_template_decisions`).Scan(&decided); err != nil {
		t.Fatal(err)
	}
	if decided != sa+":APPROVED" {
		t.Errorf("stored decision %s", decided)
	}
}
