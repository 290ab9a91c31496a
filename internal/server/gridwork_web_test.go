package server_test

import (
	"context"
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
	h := newWorkHub(t)
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
