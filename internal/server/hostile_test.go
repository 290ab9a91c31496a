package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestHostileQueriesAreRefusedBeforeTheyRun sends the usual attacks on a GraphQL
// server; each must be refused with one clear error and no data.
func TestHostileQueriesAreRefusedBeforeTheyRun(t *testing.T) {
	h := newHub(t)
	deep := "{ grid(code: \"340705\") { " + strings.Repeat("children { nodes { ", 10) + "code" + strings.Repeat(" } }", 10) + " } }"
	var aliases strings.Builder
	aliases.WriteString("{ ")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&aliases, "a%d: grid(code: \"340705\") { code } ", i)
	}
	aliases.WriteString("}")
	nestedPages := `{ people(within: "340705", first: 100) { nodes { household { members { household { members { household { members { name } } } } } } } } }`
	cases := map[string]struct {
		query string
		code  string
	}{
		"deep nesting":      {deep, "QUERY_TOO_COMPLEX"},
		"aliases x1000":     {aliases.String(), "QUERY_TOO_COMPLEX"},
		"nested huge pages": {nestedPages, "QUERY_TOO_COMPLEX"},
		"page too large":    {`{ people(within: "340705", first: 100000) { totalCount } }`, "BAD_USER_INPUT"},
		"fragment cycle":    {`query { grid(code: "340705") { ...A } } fragment A on Grid { children { nodes { ...B } } } fragment B on Grid { parent { ...A } }`, "GRAPHQL_VALIDATION_FAILED"},
		"unknown field":     {`{ grid(code: "340705") { nope } }`, "GRAPHQL_VALIDATION_FAILED"},
		"syntax error":      {`{ grid(code: "340705" { code } }`, "GRAPHQL_PARSE_FAILED"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var data map[string]any
			errs := h.query(c.query, nil, &data)
			if len(errs) == 0 || errs[0].Extensions["code"] != c.code {
				t.Fatalf("errors = %+v, want %s", errs, c.code)
			}
			for k, v := range data {
				if v != nil {
					t.Errorf("data.%s = %v; a refused query returns no data", k, v)
				}
			}
		})
	}
}

func TestOversizedBodyIsRefused(t *testing.T) {
	h := newHub(t)
	body := `{"query":"{ version }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	resp, err := http.Post(h.srv.URL+"/graphql", "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("a 2 MiB body answered %d, want a 4xx", resp.StatusCode)
	}
}
