// Package web serves the hub's pages for people: the unified report form
// (一表通填报, GET /report) for community and grid staff, the grid map
// (网格地图, GET /map), a choropleth of an indicator over the grid polygons,
// and, under gridhub dev, the query explorer (GraphiQL, graphiql.go).
//
// Each page is one self-contained HTML document: plain HTML, CSS and vanilla
// JavaScript, kept as separate files under assets/ and inlined into the
// document when the package loads. There is no build step, no other route and
// nothing fetched from elsewhere, so the pages work on a network with no way
// out. The pages are public; every call they make to POST /graphql carries a
// bearer token (kept in sessionStorage): a short-lived hub token on the
// staff member's sign-in through the city's identity provider (package
// signin, POST /auth/token), or on a dev hub one the user pastes. So
// authentication and the sharing policy apply per API call exactly as they
// do for any client.
//
// The documents are served with a Content-Security-Policy that allows their
// own inline script and style (by hash) and connections to the hub alone.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

// Report is the handler of GET /report: the unified report form.
func Report() http.Handler { return reportPage }

// Map is the handler of GET /map: the grid map.
func Map() http.Handler { return mapPage }

var (
	reportPage = mustPage("report.html", []string{"common.css", "report.css"}, []string{"common.js", "report.js"})
	mapPage    = mustPage("map.html", []string{"common.css", "map.css"}, []string{"common.js", "map.js"})
)

// page is one assembled document (or asset), with its gzip form and headers.
type page struct {
	body, gz []byte
	etag     string
	csp      string // none for an asset
	ctype    string
}

// newAsset is a file served as it is, compressed once.
func newAsset(body []byte, ctype string) *page {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	sum := sha256.Sum256(body)
	return &page{body: body, gz: gz.Bytes(), etag: fmt.Sprintf(`"%x"`, sum[:12]), ctype: ctype}
}

// The markers in a page's HTML where its styles and scripts go.
const (
	styleMarker  = "<!--#styles-->"
	scriptMarker = "<!--#scripts-->"
)

func mustPage(html string, styles, scripts []string) *page {
	p, err := newPage(html, styles, scripts)
	if err != nil {
		panic(err)
	}
	return p
}

// newPage inlines the styles and scripts into the HTML document and computes
// the hashes its Content-Security-Policy allows.
func newPage(html string, styles, scripts []string) (*page, error) {
	doc, err := assets.ReadFile("assets/" + html)
	if err != nil {
		return nil, err
	}
	css, err := concat(styles)
	if err != nil {
		return nil, err
	}
	js, err := concat(scripts)
	if err != nil {
		return nil, err
	}
	// The script goes inside <script>: a "</script" in it would end it early.
	if strings.Contains(strings.ToLower(js), "</script") || strings.Contains(strings.ToLower(css), "</style") {
		return nil, fmt.Errorf("web: %s: a script or style closes its own element", html)
	}
	for _, m := range []string{styleMarker, scriptMarker} {
		if bytes.Count(doc, []byte(m)) != 1 {
			return nil, fmt.Errorf("web: %s: want exactly one %s", html, m)
		}
	}
	doc = bytes.Replace(doc, []byte(styleMarker), []byte("<style>"+css+"</style>"), 1)
	doc = bytes.Replace(doc, []byte(scriptMarker), []byte("<script>"+js+"</script>"), 1)

	p := newAsset(doc, "text/html; charset=utf-8")
	p.csp = "default-src 'none'; connect-src 'self'; img-src 'self' data:; " +
		"script-src " + hash(js) + "; style-src " + hash(css) + "; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return p, nil
}

func concat(names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		data, err := assets.ReadFile("assets/" + n)
		if err != nil {
			return "", err
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", p.ctype)
	if p.csp != "" {
		h.Set("Content-Security-Policy", p.csp)
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	// Revalidate every time: a new build serves the new page at once.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", p.etag)
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, p.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := p.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = p.gz
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// acceptsGzip reports whether an Accept-Encoding header admits gzip (and does
// not refuse it with q=0).
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
