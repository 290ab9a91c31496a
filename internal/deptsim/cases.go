package deptsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// The 城管 case system opens a case for every report its inbox accepts
// (事件上报): the report's class, category, place and description, stage
// 受理, a deadline from the category's handling limit, source 网格员上报,
// and the case number its receipt answered. The case is listed by the
// changes feed at once and found by its party's number when the report
// names one. The inbox log is read back at start, so a restarted simulator
// opens the same cases; the stages they moved through since (AdvanceCase)
// live in memory, as Touch's changes do.

// inboxCaseBase numbers the cases opened from the inbox (caseId), above the
// generated ones.
const inboxCaseBase = 900001

// defaultCaseLimit is the handling limit (days) of a category the generator
// does not know.
const defaultCaseLimit = 3

// caseLimit is a category's handling limit in days.
func caseLimit(category string) int {
	for _, c := range caseCategories {
		if c.name == category {
			return c.limit
		}
	}
	return defaultCaseLimit
}

// inboxReport is what the 城管 inbox takes.
type inboxReport struct {
	PartyIDNo   string        `json:"partyIdNo"`
	CaseType    string        `json:"caseType"`
	Category    string        `json:"category"`
	Description string        `json:"description"`
	Location    urbanLocation `json:"location"`
}

// openCase adds the case an accepted report opens to the cases collection
// and the changes listing. Callers hold s.mu.
func (s *Server) openCase(d *Delivery) error {
	c := s.colls["cases"]
	if c == nil {
		return nil
	}
	var rep inboxReport
	if err := json.Unmarshal(d.Body, &rep); err != nil {
		return fmt.Errorf("deptsim: case from delivery %s: %w", d.Key, err)
	}
	var receipt struct {
		CaseNo string `json:"caseNo"`
	}
	if err := json.Unmarshal(d.Answer, &receipt); err != nil || receipt.CaseNo == "" {
		return fmt.Errorf("deptsim: delivery %s has no case number in its answer", d.Key)
	}
	at := s.nextUpdate(d.ReceivedAt)
	kind := rep.CaseType
	if kind == "" {
		kind = urbanKind["EVENT"]
	}
	reported := d.ReceivedAt.In(cst)
	deadline := reported.AddDate(0, 0, caseLimit(rep.Category))
	uc := urbanCase{
		CaseID: int64(inboxCaseBase + len(s.opened)), CaseNo: receipt.CaseNo, CaseType: kind, Category: rep.Category,
		Status: urbanStage["ACCEPTED"], Source: caseSources[0], ReportDate: reported.Format(urbanDate),
		Deadline: deadline.Format(urbanDate), Location: rep.Location, Description: rep.Description,
		PartyIDNo: rep.PartyIDNo, UpdateTime: at.Format(urbanTime),
	}
	if rep.PartyIDNo != "" {
		uc.PartyType = urbanParty[PartyPerson]
	}
	raw, err := marshalCompact(uc)
	if err != nil {
		return err
	}
	i := int32(len(c.recs))
	key := normKey(rep.PartyIDNo)
	c.recs = append(c.recs, record{key: key, updated: at.UnixMilli(), seq: s.nextSeq, raw: raw})
	s.nextSeq++
	if key != "" {
		c.byKey[key] = append(c.byKey[key], i)
	}
	s.changes = append(s.changes, changeRef{c, i})
	s.opened[receipt.CaseNo] = i
	return nil
}

// nextUpdate is the update time of a record changed at t: t, or the newest
// update time already listed if that is later, so the listing stays in order.
func (s *Server) nextUpdate(t time.Time) time.Time {
	at := t.UnixMilli()
	if len(s.changes) > 0 {
		last := s.changes[len(s.changes)-1]
		at = max(at, last.coll.recs[last.i].updated)
	}
	return time.UnixMilli(at).In(cst)
}

func marshalCompact(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// CaseStage is a case opened from the inbox as the case system holds it now.
type CaseStage struct {
	CaseNo   string `json:"caseNo"`
	Status   string `json:"status"`
	Deadline string `json:"deadline"`
	Finished string `json:"finishDate"`
}

// AdvanceCase moves a case opened from the inbox to its next stage (受理,
// 立案, 派遣, 处置, 核查, 结案), as the case system's clerks would: the case
// gets a new update time and moves to the end of the changes listing; at
// 结案 it gets its finish date, and is overdue if that is past its deadline.
// The change lives in memory.
func (s *Server) AdvanceCase(caseNo string) (CaseStage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.opened[caseNo]
	if !ok {
		return CaseStage{}, fmt.Errorf("deptsim %s: no case %q opened from the inbox", s.dept, caseNo)
	}
	c := s.colls["cases"]
	rec := &c.recs[i]
	var uc urbanCase
	if err := json.Unmarshal(rec.raw, &uc); err != nil {
		return CaseStage{}, err
	}
	stages := touchRules[UrbanManagement]["cases"].values
	k := slices.Index(stages, uc.Status)
	if k == len(stages)-1 {
		return CaseStage{}, fmt.Errorf("deptsim %s: case %s is closed", s.dept, caseNo)
	}
	at := s.nextUpdate(time.Now())
	uc.Status = stages[k+1]
	uc.UpdateTime = at.Format(urbanTime)
	if k+1 == len(stages)-1 {
		uc.FinishDate = at.Format(urbanDate)
		uc.IsOverdue = uc.FinishDate > uc.Deadline
	}
	raw, err := marshalCompact(uc)
	if err != nil {
		return CaseStage{}, err
	}
	rec.raw, rec.updated, rec.seq = raw, at.UnixMilli(), s.nextSeq
	s.nextSeq++
	ref := changeRef{c, i}
	s.changes = slices.DeleteFunc(s.changes, func(x changeRef) bool { return x == ref })
	s.changes = append(s.changes, ref)
	return CaseStage{CaseNo: caseNo, Status: uc.Status, Deadline: uc.Deadline, Finished: uc.FinishDate}, nil
}

// advanceEndpoint is POST /_deptsim/cases/advance?caseNo=X.
func (s *Server) advanceEndpoint(w http.ResponseWriter, r *http.Request) {
	st, err := s.AdvanceCase(r.URL.Query().Get("caseNo"))
	if err != nil {
		s.fail(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// OpenedCases counts the cases opened from the inbox.
func (s *Server) OpenedCases() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.opened)
}
