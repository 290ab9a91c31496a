package main

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"

	"github.com/gridhub/gridhub/graph/generated"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
)

// TestOneDataDirFlag: every command's --data-dir is dataDirFlag's, so they
// all default alike; a command that registers its own fails here.
func TestOneDataDirFlag(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var where []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A registration is a call of the flag set's String, StringVar or
		// Var with "data-dir" as an argument.
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "String" && sel.Sel.Name != "StringVar" && sel.Sel.Name != "Var") {
				return true
			}
			for _, arg := range call.Args {
				if lit, ok := arg.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, _ := strconv.Unquote(lit.Value); s == "data-dir" {
						where = append(where, fset.Position(lit.Pos()).String())
					}
				}
			}
			return true
		})
	}
	registered := 0
	for _, w := range where {
		if strings.HasPrefix(w, "config.go:") {
			registered++
		}
	}
	if registered != 1 {
		t.Errorf(`"data-dir" in config.go %d times, want once (dataDirFlag): %v`, registered, where)
	}
	for _, w := range where {
		if !strings.HasPrefix(w, "config.go:") {
			t.Errorf(`%s names the flag "data-dir" itself: register it with dataDirFlag`, w)
		}
	}
}

// TestDatabaseCommandsDefaultToTheDevDataDir: run from the directory that
// holds gridhub dev's ./.gridhub, verify-audit and migrate act on it without
// --data-dir, as token does (verify-audit used to fail: "no database");
// elsewhere they say what to do; GRIDHUB_DATABASE_URL wins when set.
func TestDatabaseCommandsDefaultToTheDevDataDir(t *testing.T) {
	ctx := context.Background()
	url := devenv.NewDatabase(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	// A data dir as a running gridhub dev leaves it: its database's URL and
	// the master key.
	root := t.TempDir()
	d := dataDir(filepath.Join(root, defaultDataDir))
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(string(d), "database.url"), []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := secret.LoadOrCreate(d.secretKey()); err != nil {
		t.Fatal(err)
	}
	key, err := os.ReadFile(d.secretKey())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRIDHUB_DATABASE_URL", "")
	t.Setenv("GRIDHUB_AUDIT_CHECKPOINTS", "")

	t.Chdir(root)
	for name, run := range map[string]func(context.Context, []string) error{
		"verify-audit": runVerifyAudit, "migrate": runMigrate,
	} {
		if err := run(ctx, nil); err != nil {
			t.Errorf("gridhub %s beside ./.gridhub: %v", name, err)
		}
	}
	if err := tokenCmd([]string{"--role", "admin"}, os.Getenv, new(strings.Builder), new(strings.Builder)); err != nil {
		t.Errorf("gridhub token beside ./.gridhub: %v", err)
	}

	// Somewhere else: a clear refusal, and no cluster made there.
	elsewhere := t.TempDir()
	t.Chdir(elsewhere)
	for name, run := range map[string]func(context.Context, []string) error{
		"verify-audit": runVerifyAudit, "migrate": runMigrate, "seed": runSeed, "sync": runSync,
	} {
		err := run(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "give --data-dir DIR or set GRIDHUB_DATABASE_URL") {
			t.Errorf("gridhub %s with no data dir: %v, want the refusal naming both ways", name, err)
		}
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("the refused commands left %v behind", entries)
	}

	// GRIDHUB_DATABASE_URL, when set, is the database (with its key).
	t.Setenv("GRIDHUB_DATABASE_URL", url)
	t.Setenv("GRIDHUB_SECRET_KEY", strings.TrimSpace(string(key)))
	if err := runVerifyAudit(ctx, nil); err != nil {
		t.Errorf("gridhub verify-audit with GRIDHUB_DATABASE_URL: %v", err)
	}
}

// TestREADMEListsWhatDevPrints: the README's copy of what `make demo` prints
// names the department simulators dev starts and the dev tokens it prints,
// no more and no fewer, in the same order.
func TestREADMEListsWhatDevPrints(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "`make demo` prints")
	if !ok {
		t.Fatal("README.md has no \"`make demo` prints\" paragraph")
	}
	_, block, _ := strings.Cut(after, "```\n")
	block, _, _ = strings.Cut(block, "```")
	lineNames := func(text, prefix string) []string {
		var names []string
		for _, line := range strings.Split(text, "\n") {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				name, _, _ := strings.Cut(rest, ":")
				names = append(names, name)
			}
		}
		return names
	}

	conf, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	printDevTokens(&printed, []byte("0123456789abcdef0123456789abcdef"), conf.Codes())
	if got, want := lineNames(block, "token "), lineNames(printed.String(), "token "); !slices.Equal(got, want) {
		t.Errorf("README lists the tokens %v; gridhub dev prints %v", got, want)
	}
	var rest []string
	for _, d := range deptsim.Departments() {
		if deptsim.Kind(d) == deptsim.KindREST {
			rest = append(rest, d)
		}
	}
	if got := lineNames(block, "department "); !slices.Equal(got, rest) {
		t.Errorf("README lists the department simulators %v; gridhub dev starts %v", got, rest)
	}
}

// readmeQuery finds the JSON "query" strings of the README's examples.
var readmeQuery = regexp.MustCompile(`"query":("(?:[^"\\]|\\.)*")`)

// TestREADMEQueriesValidate: every query the README sends is valid against
// the hub's schema, and the federated example asks each section for its
// source (department, as-of time, stale).
func TestREADMEQueriesValidate(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	found := readmeQuery.FindAllSubmatch(readme, -1)
	if len(found) == 0 {
		t.Fatal("no query in README.md")
	}
	for _, m := range found {
		var q string
		if err := json.Unmarshal(m[1], &q); err != nil {
			t.Fatalf("README query %s: %v", m[1], err)
		}
		if _, errs := gqlparser.LoadQuery(schema, q); len(errs) > 0 {
			t.Errorf("README query %q: %v", q, errs)
		}
		if strings.Contains(q, "civilAffairs") && strings.Count(q, "source { department asOf stale }") < 6 {
			t.Errorf("README query %q does not ask every section for source { department asOf stale }", q)
		}
	}
}
