package envvars_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/envvars"
)

// envName is what a literal naming one of gridhub's own variables looks like
// (a name, or a prefix ending in "_").
var envName = regexp.MustCompile(`^(GRIDHUB|OTEL)_[A-Z0-9_]*$`)

// readers are the functions whose first argument, a string literal, is the
// name of an environment variable read.
var readers = map[string]bool{
	"os.Getenv": true, "os.LookupEnv": true,
	// cmd/gridhub's helpers over os.Getenv, and token's injected getenv.
	"envOr": true, "envInt": true, "envDuration": true, "envDurationOrZero": true, "getenv": true,
}

// readInCode scans the non-test Go files of every package of this module the
// gridhub binary links, and returns each variable name it finds read (a
// literal argument of os.Getenv and friends) or named (a GRIDHUB_ or OTEL_
// literal anywhere), with the file it was found in.
func readInCode(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}",
		"github.com/gridhub/gridhub/cmd/gridhub").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	found := map[string]string{}
	fset := token.NewFileSet()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(path, "github.com/gridhub/gridhub") {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			rel := path + "/" + filepath.Base(file)
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && envName.MatchString(s) {
						found[s] = rel
					}
				case *ast.CallExpr:
					if readers[callee(n.Fun)] && len(n.Args) > 0 {
						if lit, ok := n.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							s, _ := strconv.Unquote(lit.Value)
							found[s] = rel
						}
					}
				}
				return true
			})
		}
	}
	return found
}

func callee(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		if x, ok := e.X.(*ast.Ident); ok {
			return x.Name + "." + e.Sel.Name
		}
	}
	return ""
}

// TestEveryVariableTheCodeReadsIsListed: a variable read anywhere in the
// binary's packages is in envvars.All, and every entry of All (but those a
// library reads) is read somewhere, so deploy/ and the README are checked
// against what the binary really reads.
func TestEveryVariableTheCodeReadsIsListed(t *testing.T) {
	found := readInCode(t)
	if len(found) < 10 {
		t.Fatalf("the scan found only %d variables (%v): it does not see the code", len(found), found)
	}
	for name, where := range found {
		_, ok := envvars.Lookup(name)
		if !ok && strings.HasSuffix(name, "_") {
			// A prefix literal ("GRIDHUB_DEPT_" + code) is the family itself.
			for _, e := range envvars.All {
				ok = ok || (e.Prefix && e.Name == name)
			}
		}
		if !ok {
			t.Errorf("%s reads %s, which internal/envvars does not list: add it to envvars.All (and to the README's configuration table and deploy/ where it applies)", where, name)
		}
	}
	for _, v := range envvars.All {
		if v.Library {
			continue
		}
		read := false
		for name := range found {
			read = read || name == v.Name || (v.Prefix && strings.HasPrefix(name, v.Name))
		}
		if !read {
			t.Errorf("envvars.All lists %s, but no package of the binary reads it: remove it, or mark it Library if a library reads it", v.Name)
		}
	}
}

// TestTheScanSeesAGetenv guards the scan itself: a file reading a variable
// through os.Getenv is found.
func TestTheScanSeesAGetenv(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", `package x
import "os"
var a = os.Getenv("NOT_LISTED_ANYWHERE")`, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	ast.Inspect(f, func(n ast.Node) bool {
		if c, ok := n.(*ast.CallExpr); ok && readers[callee(c.Fun)] {
			s, _ := strconv.Unquote(c.Args[0].(*ast.BasicLit).Value)
			got = append(got, s)
		}
		return true
	})
	if !slices.Equal(got, []string{"NOT_LISTED_ANYWHERE"}) {
		t.Fatalf("scan found %v", got)
	}
	if _, ok := envvars.Lookup("NOT_LISTED_ANYWHERE"); ok {
		t.Fatal("Lookup found a name that is not listed")
	}
}

// TestREADMEDocumentsEveryServeVariable: the README's configuration table
// names every variable an operator sets for serve.
func TestREADMEDocumentsEveryServeVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range envvars.All {
		if v.Scope != envvars.Serve {
			continue
		}
		name := v.Name
		if v.Prefix {
			name += "*"
		}
		if !strings.Contains(string(readme), "`"+name+"`") && !strings.Contains(string(readme), ", `"+name) {
			t.Errorf("README.md does not document %s (write it in backticks in the configuration table)", name)
		}
	}
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]bool{
		"GRIDHUB_DATABASE_URL":           true,
		"GRIDHUB_DEPT_HEALTH_DSN":        true,
		"GRIDHUB_DEPT_":                  false, // the prefix alone names no variable
		"GRIDHUB_DATABASE":               false,
		"OTEL_EXPORTER_OTLP_HEADERS":     true,
		"GRIDHUB_DATABASE_URL_TYPO":      false,
		"OTEL_EXPORTER_OTLP_TRACES_PATH": true,
	} {
		if _, got := envvars.Lookup(name); got != want {
			t.Errorf("Lookup(%s) = %t, want %t", name, got, want)
		}
	}
	if !slices.Contains(envvars.Required(), "GRIDHUB_SECRET_KEY") {
		t.Errorf("Required() = %v", envvars.Required())
	}
}
