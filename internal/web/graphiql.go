package web

import (
	"embed"
	"net/http"
	"path"
	"sync"
)

// The query explorer (GraphiQL 查询调试, GET /graphiql): GraphiQL and React,
// vendored from their npm packages by scripts/vendor-graphiql.sh (versions,
// checksums and licences in graphiql/VERSIONS and graphiql/LICENSES), served
// from the binary with the page and the script that starts it. Nothing is
// fetched from elsewhere, so it works on a network with no way out.

//go:embed graphiql/page.html graphiql/start.js graphiql/start.css graphiql/assets
var graphiqlFiles embed.FS

// GraphiQLPath is where the explorer is served; its files are under
// GraphiQLPath + "/assets/".
const GraphiQLPath = "/graphiql"

// graphiqlCSP lets the page run its own scripts and styles only, and talk to
// the hub alone. GraphiQL sets inline styles (its editors and panes) and
// embeds its fonts as data: URLs.
const graphiqlCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"font-src 'self' data:; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// graphiqlPages are the page and its files, compressed on first use (GraphiQL
// is 2 MB: commands that never serve it do not pay for it).
var graphiqlPages = sync.OnceValues(func() (map[string]*page, error) {
	pages := map[string]*page{}
	add := func(route, file, ctype string) error {
		b, err := graphiqlFiles.ReadFile(file)
		if err != nil {
			return err
		}
		pages[route] = newAsset(b, ctype)
		return nil
	}
	if err := add(GraphiQLPath, "graphiql/page.html", "text/html; charset=utf-8"); err != nil {
		return nil, err
	}
	pages[GraphiQLPath].csp = graphiqlCSP
	for _, f := range []string{"start.js", "start.css"} {
		if err := add(GraphiQLPath+"/assets/"+f, "graphiql/"+f, contentType(f)); err != nil {
			return nil, err
		}
	}
	entries, err := graphiqlFiles.ReadDir("graphiql/assets")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if err := add(GraphiQLPath+"/assets/"+e.Name(), "graphiql/assets/"+e.Name(), contentType(e.Name())); err != nil {
			return nil, err
		}
	}
	return pages, nil
})

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

// GraphiQL is the handler of GET /graphiql and GET /graphiql/assets/{file}.
func GraphiQL() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pages, err := graphiqlPages()
		if err != nil {
			http.Error(w, "GraphiQL: "+err.Error(), http.StatusInternalServerError)
			return
		}
		p, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
}
