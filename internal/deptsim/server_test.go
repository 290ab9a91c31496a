package deptsim

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
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
)

var (
	filesOnce sync.Once
	filesDir  string
	filesErr  error
)

// files writes the fixture's files once per test binary.
func files(t *testing.T) string {
	t.Helper()
	_, ds := fixture(t)
	filesOnce.Do(func() {
		filesDir, filesErr = os.MkdirTemp("", "deptsim-test-")
		if filesErr == nil {
			filesErr = ds.WriteFiles(filesDir)
		}
	})
	if filesErr != nil {
		t.Fatal(filesErr)
	}
	return filesDir
}

const testKey = "test-key"

func startServer(t *testing.T, dept string) (*Server, *httptest.Server) {
	t.Helper()
	s, err := NewServer(dept, files(t), testKey)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// call makes a request and decodes the JSON answer (numbers kept as json.Number).
func call(t *testing.T, method, u, header, key string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return resp.StatusCode, nil, resp.Header
	}
	return resp.StatusCode, out, resp.Header
}

// path follows a dotted path through decoded JSON.
func path(v any, p string) (any, bool) {
	for _, part := range strings.Split(p, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// restRows are the (true key, key as the source writes it) of a REST record
// set's rows.
func restRows(ds *Dataset, set string) (trueKeys, srcKeys []string) {
	add := func(p int64, src string) {
		trueKeys = append(trueKeys, fixtureCity.Persons[p-1].IDNumber)
		srcKeys = append(srcKeys, src)
	}
	switch set {
	case "unemployment":
		for _, x := range ds.Employment.Unemployment {
			add(x.PersonID, x.IDNumber)
		}
	case "hardship":
		for _, x := range ds.Employment.Hardship {
			add(x.PersonID, x.IDNumber)
		}
	case "certificate":
		for _, x := range ds.Employment.Certificates {
			add(x.PersonID, x.IDNumber)
		}
	case "assistance":
		for _, x := range ds.Employment.Assistance {
			add(x.PersonID, x.IDNumber)
		}
	case "pension":
		for _, x := range ds.SocialSecurity.Pension {
			add(x.PersonID, x.IDNumber)
		}
	case "medical":
		for _, x := range ds.SocialSecurity.Medical {
			add(x.PersonID, x.IDNumber)
		}
	case "cases":
		for _, x := range ds.UrbanManagement.Cases {
			if x.PartyType == PartyPerson {
				add(x.Party.PersonID, x.Party.IDNumber)
			}
		}
	case "orgCases":
		for _, x := range ds.UrbanManagement.Cases {
			if x.PartyType == PartyOrganization {
				trueKeys = append(trueKeys, x.CreditCode)
				srcKeys = append(srcKeys, x.CreditCode)
			}
		}
	}
	return trueKeys, srcKeys
}

// fetch reads a batch the way the mapping file says: method, keys parameter,
// items path and paging.
func fetch(t *testing.T, base string, src *connectors.RESTSource, req *connectors.Request, keys []string) []map[string]any {
	t.Helper()
	var items []map[string]any
	for page := 1; ; page++ {
		q := url.Values{}
		var body any
		if req.Method == http.MethodGet {
			q.Set(req.KeysParam, strings.Join(keys, ","))
		} else {
			body = map[string]any{req.KeysParam: keys}
		}
		if req.PageParam != "" {
			q.Set(req.PageParam, strconv.Itoa(page))
			q.Set(req.SizeParam, strconv.Itoa(req.PageSize))
		}
		u := base + req.Path
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		status, out, _ := call(t, req.Method, u, src.APIKeyHeader, testKey, body)
		if status != http.StatusOK {
			t.Fatalf("%s %s: status %d: %v", req.Method, u, status, out)
		}
		list, ok := path(out, req.Items)
		if !ok {
			t.Fatalf("%s: no %s in %v", req.Path, req.Items, out)
		}
		arr, _ := list.([]any)
		for _, it := range arr {
			items = append(items, it.(map[string]any))
		}
		if req.PageParam == "" {
			return items
		}
		tot, ok := path(out, req.Total)
		if !ok {
			t.Fatalf("%s: no %s", req.Path, req.Total)
		}
		n, _ := tot.(json.Number).Int64()
		if int64(len(items)) >= n || len(arr) == 0 {
			return items
		}
	}
}

// checkItem checks that a JSON record converts to the record set's fields.
func checkItem(t *testing.T, rs connectors.RecordSet, item map[string]any) {
	t.Helper()
	for _, f := range rs.Fields {
		v, present := path(item, f.From)
		if !present {
			t.Errorf("%s: record has no %s: %v", rs.Name, f.From, item)
			return
		}
		if s, ok := v.(string); ok && s == "" {
			continue // empty: the connector leaves the field absent
		}
		ok := true
		switch f.Type {
		case connectors.TypeString:
			_, ok = v.(string)
		case connectors.TypeInt, connectors.TypeDecimal:
			_, ok = v.(json.Number)
		case connectors.TypeBool:
			_, ok = v.(bool) // JSON true/false, format "true"
		case connectors.TypeDate:
			s, isString := v.(string)
			_, err := time.Parse(f.Format, s)
			ok = isString && err == nil
		case connectors.TypeEnum:
			s, isString := v.(string)
			_, known := f.Codes[s]
			ok = isString && known
		}
		if !ok {
			t.Errorf("%s.%s: value %#v (%T) from %s is not a %s as mapped", rs.Name, f.Name, v, v, f.From, f.Type)
		}
	}
}

func TestServerLookupFollowsMapping(t *testing.T) {
	_, ds := fixture(t)
	m := mapping(t)
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		t.Run(dept, func(t *testing.T) {
			s, hs := startServer(t, dept)
			md := m[dept]
			for _, rs := range md.Records {
				t.Run(rs.Name, func(t *testing.T) {
					trueKeys, srcKeys := restRows(ds, rs.Name)
					if len(trueKeys) == 0 {
						t.Fatal("no rows")
					}
					// A full batch of keys, with a lower-case x row among them if any.
					var keys []string
					for i, k := range trueKeys {
						lowerX := strings.HasSuffix(srcKeys[i], "x")
						if (len(keys) < rs.Request.MaxBatch-1 || lowerX && len(keys) < rs.Request.MaxBatch) && !slices.Contains(keys, k) {
							keys = append(keys, k)
						}
					}
					want := map[string]int{}
					for i, k := range trueKeys {
						if slices.Contains(keys, k) && normKey(srcKeys[i]) == k {
							want[k]++
						}
					}
					before := s.Stats()
					items := fetch(t, hs.URL, md.Source.REST, rs.Request, keys)
					got := map[string]int{}
					for _, it := range items {
						k, _ := it[rs.Key].(string)
						got[normKey(k)]++
						checkItem(t, rs, it)
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("records per key:\n got %v\nwant %v", got, want)
					}
					if after := s.Stats(); after.Keys-before.Keys < int64(len(keys)) {
						t.Errorf("stats counted %d keys for a batch of %d", after.Keys-before.Keys, len(keys))
					}
				})
			}
		})
	}
}

func TestServerAuth(t *testing.T) {
	paths := map[string]string{Employment: "/api/v1/unemployment", SocialSecurity: "/api/si/v1/pension/query", UrbanManagement: "/openapi/v2/cases"}
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		_, hs := startServer(t, dept)
		hdr := APIKeyHeader(dept)
		method, body := http.MethodGet, any(nil)
		if dept == SocialSecurity {
			method, body = http.MethodPost, map[string]any{"idList": []string{"340705199001011234"}}
		}
		if status, out, _ := call(t, http.MethodGet, hs.URL+"/health", "", "", nil); status != http.StatusOK || out["status"] != "UP" {
			t.Errorf("%s /health: %d %v", dept, status, out)
		}
		for _, key := range []string{"", "wrong"} {
			status, out, _ := call(t, method, hs.URL+paths[dept], hdr, key, body)
			if status != http.StatusUnauthorized || out == nil {
				t.Errorf("%s with key %q: %d %v, want 401 with a JSON body", dept, key, status, out)
			}
		}
		if status, _, _ := call(t, method, hs.URL+paths[dept], "X-Api-Key-Other", testKey, body); status != http.StatusUnauthorized {
			t.Errorf("%s: key in another header: %d", dept, status)
		}
		if status, out, _ := call(t, method, hs.URL+paths[dept], hdr, testKey, body); status != http.StatusOK {
			t.Errorf("%s with the key: %d %v", dept, status, out)
		}
	}
	if _, err := NewServer(CivilAffairs, files(t), testKey); err == nil {
		t.Error("NewServer accepted a sql department")
	}
	if _, err := NewServer(Employment, t.TempDir(), testKey); err == nil || !strings.Contains(err.Error(), "no simulator data") {
		t.Errorf("NewServer on an empty dir: %v", err)
	}
}

func TestServerPaging(t *testing.T) {
	_, ds := fixture(t)
	cases := []struct {
		dept, path, page, size, total string
		items                         string
		want                          int
	}{
		{Employment, "/api/v1/unemployment", "pageNo", "pageSize", "data.total", "data.list", len(ds.Employment.Unemployment)},
		{UrbanManagement, "/openapi/v2/cases", "page", "size", "total", "items", len(ds.UrbanManagement.Cases)},
	}
	for _, c := range cases {
		_, hs := startServer(t, c.dept)
		seen := map[string]bool{}
		for page := 1; ; page++ {
			status, out, _ := call(t, http.MethodGet, fmt.Sprintf("%s%s?%s=%d&%s=37", hs.URL, c.path, c.page, page, c.size), APIKeyHeader(c.dept), testKey, nil)
			if status != http.StatusOK {
				t.Fatalf("%s page %d: %d %v", c.dept, page, status, out)
			}
			tot, _ := path(out, c.total)
			if n, _ := tot.(json.Number).Int64(); int(n) != c.want {
				t.Fatalf("%s: total %d, want %d", c.dept, n, c.want)
			}
			list, _ := path(out, c.items)
			arr := list.([]any)
			if len(arr) > 37 {
				t.Fatalf("%s: page of %d", c.dept, len(arr))
			}
			if len(arr) == 0 {
				break
			}
			for _, it := range arr {
				b, _ := json.Marshal(it)
				if seen[string(b)] {
					t.Fatalf("%s: record on two pages: %s", c.dept, b)
				}
				seen[string(b)] = true
			}
		}
		if len(seen) != c.want {
			t.Errorf("%s: paged through %d records, want %d", c.dept, len(seen), c.want)
		}
		if status, _, _ := call(t, http.MethodGet, hs.URL+c.path+"?"+c.page+"=0", APIKeyHeader(c.dept), testKey, nil); status != http.StatusBadRequest {
			t.Errorf("%s: page 0 gave %d", c.dept, status)
		}
	}
}

func TestServerLimitsAndMethods(t *testing.T) {
	many := make([]string, 201)
	for i := range many {
		many[i] = fmt.Sprintf("340705199001%06d", i)
	}
	_, emp := startServer(t, Employment)
	if status, out, _ := call(t, http.MethodGet, emp.URL+"/api/v1/hardship?sfzh="+strings.Join(many[:101], ","), "X-Api-Key", testKey, nil); status != http.StatusBadRequest {
		t.Errorf("101 keys: %d %v", status, out)
	}
	if status, _, _ := call(t, http.MethodPost, emp.URL+"/api/v1/hardship", "X-Api-Key", testKey, map[string]any{}); status != http.StatusMethodNotAllowed {
		t.Errorf("POST to a GET endpoint: %d", status)
	}
	_, si := startServer(t, SocialSecurity)
	if status, _, _ := call(t, http.MethodPost, si.URL+"/api/si/v1/medical/query", "X-Auth-Token", testKey, map[string]any{"idList": many}); status != http.StatusBadRequest {
		t.Errorf("201 keys: %d", status)
	}
	if status, _, _ := call(t, http.MethodPost, si.URL+"/api/si/v1/medical/query", "X-Auth-Token", testKey, map[string]any{"idList": []string{}}); status != http.StatusBadRequest {
		t.Errorf("no keys: %d", status)
	}
	status, out, _ := call(t, http.MethodPost, si.URL+"/api/si/v1/medical/query", "X-Auth-Token", testKey, map[string]any{"idList": many[:3]})
	if status != http.StatusOK || out["items"] == nil {
		t.Errorf("unknown keys: %d %v, want 200 with empty items", status, out)
	}
}

func TestServerDateFormats(t *testing.T) {
	_, ds := fixture(t)
	formats := []struct {
		dept, path, items, field string
		re                       *regexp.Regexp
	}{
		{Employment, "/api/v1/unemployment?pageSize=50", "data.list", "djrq", regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)},
		{Employment, "/api/v1/unemployment?pageSize=50", "data.list", "gxsj", regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)},
		{UrbanManagement, "/openapi/v2/cases?size=50", "items", "reportDate", regexp.MustCompile(`^\d{4}/\d{2}/\d{2}$`)},
		{UrbanManagement, "/openapi/v2/cases?size=50", "items", "updateTime", regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$`)},
	}
	for _, f := range formats {
		_, hs := startServer(t, f.dept)
		_, out, _ := call(t, http.MethodGet, hs.URL+f.path, APIKeyHeader(f.dept), testKey, nil)
		list, _ := path(out, f.items)
		for _, it := range list.([]any) {
			if v, _ := it.(map[string]any)[f.field].(string); !f.re.MatchString(v) {
				t.Errorf("%s %s = %q, want %s", f.dept, f.field, v, f.re)
			}
		}
	}
	_, si := startServer(t, SocialSecurity)
	ids := []string{ds.SocialSecurity.Pension[0].IDNumber, ds.SocialSecurity.Pension[1].IDNumber}
	_, out, _ := call(t, http.MethodPost, si.URL+"/api/si/v1/pension/query", "X-Auth-Token", testKey, map[string]any{"idList": ids})
	items := out["items"].([]any)
	if len(items) == 0 {
		t.Fatal("no pension records")
	}
	for _, it := range items {
		m := it.(map[string]any)
		if v := m["aae030"].(string); !regexp.MustCompile(`^\d{8}$`).MatchString(v) {
			t.Errorf("aae030 = %q, want YYYYMMDD", v)
		}
		if v := m["aae036"].(string); !regexp.MustCompile(`^\d{14}$`).MatchString(v) {
			t.Errorf("aae036 = %q, want YYYYMMDDHHMMSS", v)
		}
	}
}

func TestServerChanges(t *testing.T) {
	_, ds := fixture(t)
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		t.Run(dept, func(t *testing.T) {
			_, hs := startServer(t, dept)
			total := 0
			for _, r := range ds.restResources(dept) {
				total += r.n
			}
			prefix := conventions[dept].prefix
			list := func(since string, limit int) ([]any, string, bool) {
				t.Helper()
				u := fmt.Sprintf("%s%s/changes?since=%s&limit=%d", hs.URL, prefix, url.QueryEscape(since), limit)
				status, out, _ := call(t, http.MethodGet, u, APIKeyHeader(dept), testKey, nil)
				if status != http.StatusOK {
					t.Fatalf("%s: %d %v", u, status, out)
				}
				items := "items"
				if dept == Employment {
					out, items = out["data"].(map[string]any), "list"
				}
				return out[items].([]any), out["next"].(string), out["more"].(bool)
			}
			var all []map[string]any
			since := ""
			for {
				items, next, more := list(since, 997)
				for _, it := range items {
					all = append(all, it.(map[string]any))
				}
				if !more {
					break
				}
				if next == since {
					t.Fatal("next watermark did not move")
				}
				since = next
			}
			if len(all) != total {
				t.Fatalf("listed %d changes, want %d", len(all), total)
			}
			seen := map[string]bool{}
			var prev time.Time
			for _, c := range all {
				at, err := time.Parse(time.RFC3339, c["updatedAt"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if at.Before(prev) {
					t.Fatalf("changes out of order: %v after %v", at, prev)
				}
				prev = at
				b, _ := json.Marshal(c)
				if seen[string(b)] {
					t.Fatalf("change listed twice: %s", b)
				}
				seen[string(b)] = true
				if c["resource"] == "" || c["record"] == nil {
					t.Fatalf("change without resource or record: %v", c)
				}
			}
			// A timestamp watermark lists what changed after it.
			cut := time.Date(2026, 3, 1, 12, 0, 0, 0, cst)
			want := 0
			for _, c := range all {
				if at, _ := time.Parse(time.RFC3339, c["updatedAt"].(string)); at.After(cut) {
					want++
				}
			}
			got := 0
			for since := cut.Format(time.RFC3339); ; {
				items, next, more := list(since, 1000)
				got += len(items)
				if !more {
					break
				}
				since = next
			}
			if got != want || want == 0 {
				t.Errorf("since %v: %d changes, want %d", cut, got, want)
			}
			status, _, _ := call(t, http.MethodGet, hs.URL+prefix+"/changes?since=yesterday", APIKeyHeader(dept), testKey, nil)
			if status != http.StatusBadRequest {
				t.Errorf("bad watermark: %d", status)
			}
		})
	}
}

func TestServerFaults(t *testing.T) {
	s, hs := startServer(t, UrbanManagement)
	get := func(extra string, header string) (int, []byte, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/openapi/v2/cases?size=1"+extra, nil)
		req.Header.Set("X-App-Key", testKey)
		if header != "" {
			req.Header.Set("X-Deptsim-Fault", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	if status, _, _ := get("&_fault=error", ""); status != http.StatusInternalServerError {
		t.Errorf("error fault: %d", status)
	}
	if status, _, h := get("", "unavailable"); status != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("unavailable fault: %d %v", status, h)
	}
	if status, _, _ := get("", "ratelimit"); status != http.StatusTooManyRequests {
		t.Errorf("ratelimit fault: %d", status)
	}
	if status, b, _ := get("&_fault=garbage", ""); status != http.StatusOK || json.Valid(b) {
		t.Errorf("garbage fault: %d %q", status, b)
	}
	if err := s.SetFault(Fault{Mode: "slow", Delay: 80 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	// A client that will not wait 80ms gives up on a slow answer; one that
	// waits gets it.
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/openapi/v2/cases?size=1", nil)
	req.Header.Set("X-App-Key", testKey)
	impatient := &http.Client{Timeout: 20 * time.Millisecond}
	if resp, err := impatient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("slow fault: answered %d before a 20ms client deadline", resp.StatusCode)
	}
	if status, _, _ := get("", ""); status != http.StatusOK {
		t.Errorf("slow fault: %d", status)
	}
	// The admin endpoint sets and clears the fault.
	if status, out, _ := call(t, http.MethodPost, hs.URL+"/_deptsim/fault?mode=error", "X-App-Key", testKey, nil); status != http.StatusOK || out["mode"] != "error" {
		t.Fatalf("set fault: %d %v", status, out)
	}
	if status, _, _ := get("", ""); status != http.StatusInternalServerError {
		t.Errorf("after setting error: %d", status)
	}
	if status, _, _ := call(t, http.MethodGet, hs.URL+"/health", "", "", nil); status != http.StatusInternalServerError {
		t.Errorf("health of a failing system: %d", status)
	}
	if status, _, _ := call(t, http.MethodPost, hs.URL+"/_deptsim/fault?mode=", "X-App-Key", testKey, nil); status != http.StatusOK {
		t.Fatal(status)
	}
	if status, _, _ := get("", ""); status != http.StatusOK {
		t.Errorf("after clearing: %d", status)
	}
	if status, _, _ := call(t, http.MethodPost, hs.URL+"/_deptsim/fault?mode=explode", "X-App-Key", testKey, nil); status != http.StatusBadRequest {
		t.Errorf("unknown mode: %d", status)
	}
	if _, out, _ := call(t, http.MethodGet, hs.URL+"/_deptsim/stats", "", "", nil); out["requests"] == nil {
		t.Errorf("stats: %v", out)
	}
	for in, want := range map[string]Fault{"error": {Mode: "error"}, "error@0.3": {Mode: "error", Rate: 0.3}, "slow@1/5s": {Mode: "slow", Rate: 1, Delay: 5 * time.Second}} {
		if got, err := ParseFault(in); err != nil || got != want {
			t.Errorf("ParseFault(%q) = %+v, %v", in, got, err)
		}
	}
	if _, err := ParseFault("boom"); err == nil {
		t.Error("ParseFault accepted an unknown mode")
	}
}

func TestListenAndServe(t *testing.T) {
	dir := files(t)
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, SocialSecurity, dir, testKey, "127.0.0.1:0", Fault{}, func(u string) { urls <- u })
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("not ready")
	}
	if status, _, _ := call(t, http.MethodGet, base+"/health", "", "", nil); status != http.StatusOK {
		t.Errorf("health: %d", status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe after cancel: %v", err)
	}
}

func TestLedger(t *testing.T) {
	_, ds := fixture(t)
	dir := files(t)
	rs, _ := mapping(t)[PartyBuilding].Set("membership")
	f, err := excelize.OpenFile(LedgerPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(rs.Sheet.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(ds.PartyBuilding.Members)+rs.Sheet.HeaderRow {
		t.Fatalf("%d rows, want %d members below the header row %d", len(rows), len(ds.PartyBuilding.Members), rs.Sheet.HeaderRow)
	}
	if !strings.Contains(rows[0][0], "党员信息台账") {
		t.Errorf("title row %q", rows[0])
	}
	header := rows[rs.Sheet.HeaderRow-1]
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, h := range append([]string{rs.Key}, fieldSources(*rs)...) {
		if _, ok := col[h]; !ok {
			t.Fatalf("header row %v has no %s", header, h)
		}
	}
	lowerX := 0
	for _, r := range rows[rs.Sheet.HeaderRow:] {
		if id := r[col[rs.Key]]; strings.HasSuffix(id, "x") {
			lowerX++
		}
		for _, fd := range rs.Fields {
			v := ""
			if i := col[fd.From]; i < len(r) {
				v = r[i]
			}
			if v == "" {
				continue
			}
			switch fd.Type {
			case connectors.TypeDate:
				if _, err := time.Parse(fd.Format, v); err != nil {
					t.Fatalf("%s %q: %v", fd.From, v, err)
				}
			case connectors.TypeEnum:
				if _, ok := fd.Codes[v]; !ok {
					t.Fatalf("%s %q is not mapped", fd.From, v)
				}
			case connectors.TypeBool:
				if v != "是" && v != "否" {
					t.Fatalf("%s %q is not 是/否", fd.From, v)
				}
			}
		}
	}
	if lowerX == 0 {
		t.Error("no ID number with a lower-case x in the ledger")
	}
}

func TestWriteFilesTruth(t *testing.T) {
	_, ds := fixture(t)
	dir := files(t)
	if !FilesWritten(dir) || FilesWritten(t.TempDir()) {
		t.Fatal("FilesWritten does not tell")
	}
	var sum TruthSummary
	b, err := os.ReadFile(filepath.Join(dir, TruthDir, truthSummary))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Rows["social_security.pension"] != len(ds.SocialSecurity.Pension) || sum.Deaths != len(ds.Truth.Deaths) || sum.StillActive == 0 {
		t.Errorf("summary %+v", sum)
	}
	for name, want := range map[string]int{"noise.csv.gz": len(ds.Truth.Noise), "deaths.csv.gz": len(ds.Truth.Deaths)} {
		f, err := os.Open(filepath.Join(dir, TruthDir, name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(zr).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != want+1 {
			t.Errorf("%s: %d rows, want %d and a header", name, len(recs)-1, want)
		}
	}
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		if _, err := os.Stat(filepath.Join(dir, dept, manifestFile)); err != nil {
			t.Error(err)
		}
	}
}

func TestReadLinesFallsBack(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.jsonl.gz")
	err := writeGzip(p, func(w io.Writer) error {
		_, err := io.WriteString(w, `{"key":"A\"B","updated":"2026-01-02T03:04:05+08:00","record":{"a":1}}`+"\n"+
			`{"record":{"b":[1,2]},"key":"c","updated":"2026-01-02T03:04:05Z"}`+"\n\n"+
			`{"key":"d","updated":"2026-01-02T03:04:05+08:00","record":{"c":"}"}}`+"\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = readLines(p, func(l line) error {
		got = append(got, l.Key+" "+l.Updated.UTC().Format(time.RFC3339)+" "+string(l.Record))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`A"B 2026-01-01T19:04:05Z {"a":1}`, `c 2026-01-02T03:04:05Z {"b":[1,2]}`, `d 2026-01-01T19:04:05Z {"c":"}"}`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
