package deptsim

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// The REST simulators' inbox for report deliveries (一表通 回写): POST
// <prefix>/inbox with an Idempotency-Key header and a JSON object in the
// department's conventions. The first delivery under a key is checked, stored
// and answered 200 with a receipt; a repeat with the same body is answered
// with that first answer and the header Idempotent-Replayed: true, and is not
// applied again; a repeat with a different body is refused with 409. Every
// accepted delivery is appended to <dir>/<dept>/inbox.jsonl and fsync'd before
// the answer, and the file is read back at start, so a simulator killed and
// restarted still knows every key it acknowledged: what crash tests of the
// hub's delivery need.

// InboxFile is the inbox log in a REST department's directory.
const InboxFile = "inbox.jsonl"

// IdempotencyHeader carries a delivery's idempotency key.
const IdempotencyHeader = "Idempotency-Key"

// ReplayedHeader marks the answer to a repeated delivery.
const ReplayedHeader = "Idempotent-Replayed"

// Delivery is a delivery the inbox accepted, as its log keeps it.
type Delivery struct {
	Key        string          `json:"idempotencyKey"`
	ReceivedAt time.Time       `json:"receivedAt"`
	BodyHash   string          `json:"bodySha256"`
	Body       json.RawMessage `json:"body"`
	Status     int             `json:"status"`
	Answer     json.RawMessage `json:"answer"`
}

// InboxStats counts an inbox's deliveries. Keys counts the log, restarts
// included; the other counters start at zero with the process.
type InboxStats struct {
	Keys      int   `json:"keys"`      // distinct idempotency keys accepted
	Requests  int64 `json:"requests"`  // POSTs to the inbox
	Replayed  int64 `json:"replayed"`  // repeats answered with the first answer
	Conflicts int64 `json:"conflicts"` // repeats with another body, refused with 409
	Refused   int64 `json:"refused"`   // deliveries refused as invalid (4xx)
}

type inbox struct {
	path string

	mu     sync.Mutex
	byKey  map[string]*Delivery
	stats  InboxStats
	issued int // receipts issued, for receipt numbers
}

// openInbox loads the log at path. A last line cut short (the process died
// while writing it, before it answered) is dropped and cut off the file; any
// other damaged line is an error, since the log would be lying.
func openInbox(path string) (*inbox, error) {
	in := &inbox{path: path, byKey: map[string]*Delivery{}}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return in, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var good int64
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 {
				// A torn last line: never acknowledged, so never delivered.
				if err := f.Truncate(good); err != nil {
					return nil, err
				}
			}
			break
		}
		if err != nil {
			return nil, err
		}
		var d Delivery
		if err := json.Unmarshal(line, &d); err != nil || d.Key == "" {
			return nil, fmt.Errorf("%s:%d: not a delivery: %v", path, n, err)
		}
		in.byKey[d.Key] = &d
		good += int64(len(line))
	}
	in.issued = len(in.byKey)
	return in, nil
}

// append writes d to the log and fsyncs it. Callers hold mu.
func (in *inbox) append(d *Delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(in.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// InboxStats returns the inbox's counters.
func (s *Server) InboxStats() InboxStats {
	s.inbox.mu.Lock()
	defer s.inbox.mu.Unlock()
	st := s.inbox.stats
	st.Keys = len(s.inbox.byKey)
	return st
}

// Delivered returns the delivery accepted under an idempotency key.
func (s *Server) Delivered(key string) (Delivery, bool) {
	s.inbox.mu.Lock()
	defer s.inbox.mu.Unlock()
	d, ok := s.inbox.byKey[key]
	if !ok {
		return Delivery{}, false
	}
	return *d, true
}

// Deliveries returns every accepted delivery, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.inbox.mu.Lock()
	defer s.inbox.mu.Unlock()
	out := make([]Delivery, 0, len(s.inbox.byKey))
	for _, d := range s.inbox.byKey {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Delivery) int { return a.ReceivedAt.Compare(b.ReceivedAt) })
	return out
}

// deliver is POST <prefix>/inbox.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	in := s.inbox
	key := strings.TrimSpace(r.Header.Get(IdempotencyHeader))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Requests++
	refuse := func(status int, msg string) {
		in.stats.Refused++
		s.fail(w, status, msg)
	}
	switch {
	case err != nil:
		refuse(http.StatusBadRequest, "body: "+err.Error())
		return
	case key == "" || len(key) > 200:
		refuse(http.StatusBadRequest, "an "+IdempotencyHeader+" header (at most 200 characters) is required")
		return
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if d, ok := in.byKey[key]; ok {
		if d.BodyHash != hash {
			in.stats.Conflicts++
			s.fail(w, http.StatusConflict, IdempotencyHeader+" "+key+" was used for another delivery")
			return
		}
		in.stats.Replayed++
		w.Header().Set(ReplayedHeader, "true")
		writeRaw(w, d.Status, d.Answer)
		return
	}
	if msg := s.checkDelivery(body); msg != "" {
		refuse(http.StatusUnprocessableEntity, msg)
		return
	}
	now := time.Now()
	in.issued++
	answer, err := json.Marshal(s.receipt(now, in.issued))
	if err != nil {
		s.fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	d := &Delivery{Key: key, ReceivedAt: now, BodyHash: hash, Body: compactJSON(body), Status: http.StatusOK, Answer: answer}
	if err := in.append(d); err != nil {
		in.issued--
		s.fail(w, http.StatusInternalServerError, "inbox: "+err.Error())
		return
	}
	in.byKey[key] = d
	if s.dept == UrbanManagement {
		// The case system opens a case for the report (cases.go).
		s.mu.Lock()
		err := s.openCase(d)
		s.mu.Unlock()
		if err != nil {
			s.fail(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeRaw(w, d.Status, d.Answer)
}

func compactJSON(b []byte) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return json.RawMessage(b)
	}
	return buf.Bytes()
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// receipt is the answer to an accepted delivery, in the department's style.
func (s *Server) receipt(now time.Time, n int) any {
	day := now.In(cst).Format("20060102")
	switch s.dept {
	case Employment:
		return empEnvelope{Msg: "success", Data: map[string]string{"receiptNo": fmt.Sprintf("JYBS%s%06d", day, n)}}
	case SocialSecurity:
		return map[string]string{"result": "accepted", "receiptNo": fmt.Sprintf("SIBS%s%06d", day, n)}
	default:
		return map[string]string{"code": "OK", "message": "受理成功", "caseNo": fmt.Sprintf("SB%s%05d", day, n)}
	}
}

// valueCheck says whether a delivered value is acceptable; nil (a field
// cleared) always is.
type valueCheck func(v any) bool

var idNumber = regexp.MustCompile(`^[0-9A-Z]{15}([0-9A-Z]{3})?$`)

func isID(v any) bool {
	s, ok := v.(string)
	return ok && idNumber.MatchString(s)
}

func isText(v any) bool {
	s, ok := v.(string)
	return ok && len(s) <= 2000
}

func isNumber(v any) bool {
	_, ok := v.(json.Number)
	return ok
}

func oneOf(values ...string) valueCheck {
	return func(v any) bool {
		s, ok := v.(string)
		return ok && slices.Contains(values, s)
	}
}

func timeIn(layout string) valueCheck {
	return func(v any) bool {
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(layout, s)
		return err == nil
	}
}

// inboxFields are the fields each department's inbox takes, as dotted paths,
// and the key among them: each department checks deliveries against its own
// conventions (its codes, its date formats), as a real one would.
var inboxFields = map[string]struct {
	key string
	// keyOptional: a delivery may be about no one (城管: an event reported
	// at a place).
	keyOptional bool
	fields      map[string]valueCheck
}{
	Employment: {"sfzh", false, map[string]valueCheck{
		"sfzh": isID, "djzt": oneOf("01", "02", "03"), "djrq": timeIn(employmentDate), "syyy": isText,
		"rdlb": oneOf("01", "02", "03", "04", "05", "99"), "tbsj": timeIn(employmentTime),
	}},
	SocialSecurity: {"aac002", false, map[string]valueCheck{
		"aac002": isID, "pension.aac008": oneOf("1", "2", "3", "4"), "medical.aae140": oneOf("310", "390"),
		"medical.aac008": oneOf("1", "2", "3"), "aae036": timeIn(siTime),
	}},
	UrbanManagement: {"partyIdNo", true, map[string]valueCheck{
		"partyIdNo": isID, "caseType": oneOf(urbanKind["EVENT"], urbanKind["COMPONENT"]), "category": isText, "description": isText, "location.lng": isNumber, "location.lat": isNumber,
		"location.address": isText, "reportTime": timeIn(urbanTime),
	}},
}

// checkDelivery checks a delivery's body; it returns why it is refused, or "".
func (s *Server) checkDelivery(body []byte) string {
	spec := inboxFields[s.dept]
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return "the body must be a JSON object"
	}
	flat := map[string]any{}
	if !flattenJSON("", obj, flat) {
		return "the body holds an array"
	}
	_, keyed := flat[spec.key]
	if !isID(flat[spec.key]) && (keyed || !spec.keyOptional) {
		return spec.key + " (the ID number) is required"
	}
	if len(flat) < 2 {
		return "a delivery needs a field besides " + spec.key
	}
	if !keyed && (flat["category"] == nil || flat["location.lng"] == nil || flat["location.lat"] == nil) {
		return "a report about no one needs its category and location"
	}
	for _, k := range sortedKeys(flat) {
		check, known := spec.fields[k]
		switch {
		case !known:
			return "unknown field " + k
		case flat[k] != nil && !check(flat[k]):
			return "field " + k + ": not a value this department takes"
		}
	}
	return ""
}

// flattenJSON puts obj's leaves in out by dotted path; false when it holds
// an array.
func flattenJSON(prefix string, obj map[string]any, out map[string]any) bool {
	for k, v := range obj {
		switch x := v.(type) {
		case map[string]any:
			if !flattenJSON(prefix+k+".", x, out) {
				return false
			}
		case []any:
			return false
		default:
			out[prefix+k] = v
		}
	}
	return true
}
