package server_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gridhub/gridhub/internal/testcity"
)

// The hub works inside a network with no way out: every page it serves, and
// every file those pages load, comes from the hub itself.

// newDevHub is a test hub as gridhub dev serves it: GraphiQL on.
func newDevHub(t *testing.T) *hub {
	t.Helper()
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	opts.Dev = true
	return startHub(t, fx, opts, ledger)
}

// The pages a person opens: the landing page and every page it links to.
var pagePaths = []string{"/", "/graphiql", "/report", "/map", "/diary", "/event", "/approvals", "/review"}

var (
	// attrURL is a URL in an attribute that loads or leads somewhere.
	attrURL = regexp.MustCompile(`(?i)\b(?:src|href|action|poster|data|srcset)\s*=\s*["']?([^"'\s>]+)`)
	// cssURL is a URL a style sheet loads (url(...) or @import).
	cssURL = regexp.MustCompile(`(?i)(?:url\(\s*["']?([^"')\s]+)|@import\s+["']([^"']+))`)
	// anyURL is an absolute or protocol-relative URL anywhere in a document.
	anyURL = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9][a-z0-9.-]*\.[a-z]{2,}`)
	// cdnHost is a host scripts are commonly loaded from.
	cdnHost = regexp.MustCompile(`(?i)//(?:cdn[.-][a-z0-9.-]+|[a-z0-9.-]*(?:jsdelivr\.net|unpkg\.com|cdnjs\.cloudflare\.com|esm\.sh|googleapis\.com|gstatic\.com|bootcdn\.net|staticfile\.org))`)
)

// get fetches path from the hub as a browser would (gzip accepted) and
// returns the decoded body and the response.
func get(t *testing.T, base, path string) ([]byte, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return b, resp
}

// external reports whether ref, found in a document of the hub at base,
// leads to another host.
func external(base *url.URL, ref string) bool {
	if strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "#") {
		return false
	}
	u, err := base.Parse(ref)
	if err != nil {
		return true
	}
	return u.Host != base.Host || (u.Scheme != "http" && u.Scheme != "https")
}

// TestPagesReferenceNothingOutside fetches every page the hub serves and
// every file they load, and finds no URL of another host in the HTML or the
// style sheets, no CDN in the scripts, and no other host allowed by a page's
// Content-Security-Policy.
func TestPagesReferenceNothingOutside(t *testing.T) {
	h := newDevHub(t)
	base, _ := url.Parse(h.srv.URL + "/")

	// The landing page links every page: they are all checked.
	landing, _ := get(t, h.srv.URL, "/")
	for _, m := range attrURL.FindAllStringSubmatch(string(landing), -1) {
		if p := m[1]; strings.HasPrefix(p, "/") && p != "/graphql" && !slices.Contains(pagePaths, p) {
			t.Errorf("the landing page links %s, which this test does not check: add it to pagePaths", p)
		}
	}
	loaded := 0
	for _, path := range pagePaths {
		doc, resp := get(t, h.srv.URL, path)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s is %s, not a page", path, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if csp == "" || strings.Contains(csp, "//") || strings.Contains(csp, "*") {
			t.Errorf("%s: Content-Security-Policy %q: want one that allows this hub alone", path, csp)
		}
		for _, m := range anyURL.FindAllString(string(doc), -1) {
			// XML namespace names (SVG's) are identifiers, never fetched.
			if external(base, m) && !strings.HasSuffix(m, "//www.w3.org") {
				t.Errorf("%s references %s", path, m)
			}
		}
		for _, m := range attrURL.FindAllStringSubmatch(string(doc), -1) {
			ref := m[1]
			if external(base, ref) {
				t.Errorf("%s references %s", path, ref)
				continue
			}
			u, _ := base.Parse(ref)
			if !strings.HasPrefix(u.Path, path+"/") || strings.HasPrefix(ref, "#") {
				continue // another page, checked on its own
			}
			// A file the page loads: a script or a style sheet.
			body, aresp := get(t, h.srv.URL, u.Path)
			loaded++
			switch ct := aresp.Header.Get("Content-Type"); {
			case strings.HasPrefix(ct, "text/css"):
				for _, c := range cssURL.FindAllStringSubmatch(string(body), -1) {
					if ref := c[1] + c[2]; external(base, ref) {
						t.Errorf("%s (loaded by %s) loads %s", u.Path, path, ref)
					}
				}
			case strings.HasPrefix(ct, "text/javascript"):
				// Bundled libraries name web pages in their error
				// messages; what must not be there is a CDN to load from.
				if c := cdnHost.FindString(string(body)); c != "" {
					t.Errorf("%s (loaded by %s) names %s", u.Path, path, c)
				}
			default:
				t.Errorf("%s (loaded by %s) is %s", u.Path, path, ct)
			}
		}
	}
	if loaded < 4 {
		t.Errorf("the pages loaded only %d files: GraphiQL's scripts and style sheets were not checked", loaded)
	}
}

// TestTheOfflineCheckCatchesACDN: the scan finds the references the old
// GraphiQL page (gqlgen's playground) made.
func TestTheOfflineCheckCatchesACDN(t *testing.T) {
	base, _ := url.Parse("http://127.0.0.1:8080/")
	old := `<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/graphiql@3/graphiql.min.css">` +
		`<script src="//unpkg.com/react@18/umd/react.production.min.js"></script>`
	var found []string
	for _, m := range attrURL.FindAllStringSubmatch(old, -1) {
		if external(base, m[1]) {
			found = append(found, m[1])
		}
	}
	if len(found) != 2 || cdnHost.FindString(old) == "" {
		t.Fatalf("found %v in a page loading from two CDNs", found)
	}
	if external(base, "/graphiql/assets/start.js") || external(base, "data:font/woff2;base64,AA") {
		t.Fatal("the hub's own files count as external")
	}
}

// TestPagesLoadNothingFromOutside opens every page in headless Chromium and
// records every request it makes: all go to the hub, and the page runs
// without an error (a request the Content-Security-Policy blocked is one).
// GraphiQL must come up and answer a query through the hub.
func TestPagesLoadNothingFromOutside(t *testing.T) {
	h := newDevHub(t)
	p := newPage(t, 1280, 800, false)
	var (
		mu       sync.Mutex
		requests []string
	)
	go func() {
		for ev, err := range chromedp.Events(p.ctx, network.RequestWillBeSent) {
			if err != nil {
				return
			}
			mu.Lock()
			requests = append(requests, ev.Request.URL)
			mu.Unlock()
		}
	}()
	for _, path := range pagePaths {
		p.do(chromedp.Navigate(h.srv.URL + path))
		if path == "/graphiql" {
			p.wait("GraphiQL", `!!document.querySelector('.graphiql-container .graphiql-query-editor')`)
			// Run the default query: the answer comes from the hub (an
			// error for the placeholder token, which is still the hub's).
			p.eval(`(() => { document.querySelector('.graphiql-execute-button').click(); return true; })()`, nil)
			p.wait("an answer", `document.querySelector('.graphiql-response') !== null &&
				document.querySelector('.graphiql-response').textContent.includes('UNAUTHENTICATED')`)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(requests) < len(pagePaths)+4 {
		t.Fatalf("recorded only %d requests: %v", len(requests), requests)
	}
	for _, r := range requests {
		if !strings.HasPrefix(r, h.srv.URL+"/") && !strings.HasPrefix(r, "data:") && !strings.HasPrefix(r, "blob:") {
			t.Errorf("a page requested %s", r)
		}
	}
	// The hub's own refusals (401 for the placeholder token, 404 for a
	// favicon) are logged as errors too; what must not be there is anything
	// else, such as a load the Content-Security-Policy refused.
	for _, e := range p.errors() {
		if !strings.Contains(e, "the server responded with a status of") {
			t.Errorf("page error: %s", e)
		}
	}
}
