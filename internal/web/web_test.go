package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// The pages in a browser are tested in internal/server (web_test.go), against
// a whole hub; these tests check what is served.

func get(t *testing.T, h http.Handler, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var (
	inlineScript = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	inlineStyle  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	// Any reference that would leave the hub: the pages must work offline.
	external = regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import|https?://`)
)

func TestPagesAreSelfContained(t *testing.T) {
	for name, h := range map[string]http.Handler{"report": Report(), "map": Map(), "review": Review()} {
		t.Run(name, func(t *testing.T) {
			rec := get(t, h, nil)
			if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("GET: %d %s", rec.Code, rec.Header().Get("Content-Type"))
			}
			body := rec.Body.String()
			if !strings.Contains(body, `<html lang="zh-CN">`) || strings.Contains(body, "<!--#") {
				t.Errorf("document not assembled: %.200s", body)
			}
			scripts, styles := inlineScript.FindAllStringSubmatch(body, -1), inlineStyle.FindAllStringSubmatch(body, -1)
			if len(scripts) != 1 || len(styles) != 1 || strings.Contains(body, "<script src") || strings.Contains(body, "<link rel=\"stylesheet\"") {
				t.Fatalf("want one inline script and one inline style, got %d and %d", len(scripts), len(styles))
			}
			// Nothing from elsewhere: the SVG namespace is a name, not a fetch.
			stripped := strings.ReplaceAll(body, "'http://www.w3.org/2000/svg'", "")
			if m := external.FindString(stripped); m != "" {
				i := strings.Index(stripped, m)
				t.Errorf("external reference %q in %q", m, stripped[max(0, i-60):min(len(stripped), i+60)])
			}
			// The policy allows exactly the inline script and style.
			csp := rec.Header().Get("Content-Security-Policy")
			for _, src := range []struct{ directive, text string }{{"script-src", scripts[0][1]}, {"style-src", styles[0][1]}} {
				sum := sha256.Sum256([]byte(src.text))
				want := src.directive + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %s", csp, want)
				}
			}
			for _, d := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, d) {
					t.Errorf("CSP %q lacks %s", csp, d)
				}
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
}

func TestPagesCompressAndRevalidate(t *testing.T) {
	plain := get(t, Report(), nil)
	zipped := get(t, Report(), http.Header{"Accept-Encoding": {"br, gzip;q=0.8"}})
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Body.Len() >= plain.Body.Len() {
		t.Fatalf("gzip: encoding %q, %d bytes against %d", zipped.Header().Get("Content-Encoding"), zipped.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Error("the gzip body is not the page")
	}
	if refused := get(t, Report(), http.Header{"Accept-Encoding": {"gzip;q=0"}}); refused.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client refusing it")
	}
	etag := plain.Header().Get("ETag")
	if etag == "" || plain.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, plain.Header().Get("Cache-Control"))
	}
	if again := get(t, Report(), http.Header{"If-None-Match": {etag}}); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes", again.Code, again.Body.Len())
	}
	if other := get(t, Map(), http.Header{"If-None-Match": {etag}}); other.Code != http.StatusOK {
		t.Errorf("the map answered %d to the report's ETag", other.Code)
	}
}

func TestNewPageRefusesABrokenDocument(t *testing.T) {
	if _, err := newPage("missing.html", nil, nil); err == nil {
		t.Error("a missing document was accepted")
	}
	if _, err := newPage("report.html", []string{"common.css"}, []string{"missing.js"}); err == nil {
		t.Error("a missing script was accepted")
	}
}
