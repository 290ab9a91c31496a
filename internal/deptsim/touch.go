package deptsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// touchRule is how Touch changes a record of one resource: the status field
// moves to the next of its values, and the update-time field takes the new
// time in the department's layout.
type touchRule struct {
	status     string
	values     []string
	timeField  string
	timeLayout string
}

var touchRules = map[string]map[string]touchRule{
	Employment: {
		"unemployment": {"djzt", []string{"01", "02", "03"}, "gxsj", employmentTime},
		"hardship":     {"", nil, "gxsj", employmentTime},
		"certificates": {"", nil, "gxsj", employmentTime},
		"assistance":   {"", nil, "gxsj", employmentTime},
	},
	SocialSecurity: {
		"pension": {"aac008", []string{"1", "2", "3", "4"}, "aae036", siTime},
		"medical": {"aac008", []string{"1", "2"}, "aae036", siTime},
	},
	UrbanManagement: {
		"cases": {"status", []string{"受理", "立案", "派遣", "处置", "核查", "结案"}, "updateTime", urbanTime},
	},
}

// Touched is a record Touch changed.
type Touched struct {
	Resource string `json:"resource"`
	// ID is the record's id in the changes listing.
	ID string `json:"id"`
	// Key is the record's key as the source writes it (trimmed, upper
	// case); it may be empty or not a valid number, as sources are.
	Key     string `json:"key"`
	Deleted bool   `json:"deleted"`
}

// Touch changes the status of n records and deletes del others (lookups stop
// answering them; the changes listing marks them deleted), picked at random
// among the live records of resource ("" for all), and gives all of them one
// new update time: now, or the newest update time already listed if that is
// later. Sharing one time, as a batch job's updates do, lets tests check that
// the fact feed pages across equal timestamps. The changes live in memory:
// a restarted simulator serves its files again.
func (s *Server) Touch(n, del int, resource string) ([]Touched, time.Time, error) {
	if n < 0 || del < 0 {
		return nil, time.Time{}, fmt.Errorf("deptsim: touch counts must not be negative")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if resource != "" && s.colls[resource] == nil {
		return nil, time.Time{}, fmt.Errorf("deptsim %s: no resource %q (have %v)", s.dept, resource, sortedKeys(s.colls))
	}
	var live []int
	for k, c := range s.changes {
		if !c.coll.recs[c.i].deleted && (resource == "" || c.coll.name == resource) {
			live = append(live, k)
		}
	}
	if n+del > len(live) {
		return nil, time.Time{}, fmt.Errorf("deptsim %s: %d records to touch, %d there", s.dept, n+del, len(live))
	}
	s.touches++
	rng := rand.New(rand.NewPCG(s.touches, 0x746f756368))
	rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	picked := live[:n+del]
	slices.Sort(picked)

	at := time.Now().UnixMilli()
	if len(s.changes) > 0 {
		last := s.changes[len(s.changes)-1]
		at = max(at, last.coll.recs[last.i].updated)
	}
	stamp := time.UnixMilli(at).In(cst)
	moved := make([]changeRef, 0, len(picked))
	out := make([]Touched, 0, len(picked))
	for k, pos := range picked {
		ref := s.changes[pos]
		rec := &ref.coll.recs[ref.i]
		deleting := k >= n
		raw, err := touchRules[s.dept][ref.coll.name].apply(rec.raw, stamp, !deleting)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("deptsim %s: touch %s %d: %w", s.dept, ref.coll.name, ref.i, err)
		}
		rec.raw, rec.updated, rec.seq, rec.deleted = raw, at, s.nextSeq, deleting
		s.nextSeq++
		moved = append(moved, ref)
		out = append(out, Touched{Resource: ref.coll.name, ID: strconv.Itoa(int(ref.i)), Key: rec.key, Deleted: deleting})
	}
	// The touched records leave their places and follow everything else,
	// in the order of their new sequence numbers.
	gone := make(map[changeRef]bool, len(moved))
	for _, ref := range moved {
		gone[ref] = true
	}
	s.changes = slices.DeleteFunc(s.changes, func(c changeRef) bool { return gone[c] })
	s.changes = append(s.changes, moved...)
	return out, stamp, nil
}

// apply changes a record's JSON: the next status (when status), and the
// update time.
func (r touchRule) apply(raw json.RawMessage, at time.Time, status bool) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if status && r.status != "" {
		cur, _ := obj[r.status].(string)
		i := slices.Index(r.values, cur)
		obj[r.status] = r.values[(i+1)%len(r.values)]
	}
	if r.timeField != "" {
		obj[r.timeField] = at.Format(r.timeLayout)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// touchEndpoint is POST /_deptsim/touch?n=N&delete=D&resource=R.
func (s *Server) touchEndpoint(w http.ResponseWriter, r *http.Request) {
	n, err := intParam(r, "n", 100, 0, 1<<30)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	del, err := intParam(r, "delete", 0, 0, 1<<30)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	touched, at, err := s.Touch(n, del, r.URL.Query().Get("resource"))
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"updatedAt": at, "touched": touched})
}
