package all

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
)

const module = "github.com/gridhub/gridhub/connectors/"

// TestAllKindsRegistered fails when a package under connectors/ calls
// connectors.Register but is not imported here, or registers under another
// name than its source says, in the manner of Telegraf's plugins/all_test.go.
func TestAllKindsRegistered(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	var kinds, dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		found := registeredKinds(t, filepath.Join("..", e.Name()))
		if len(found) > 0 {
			dirs = append(dirs, e.Name())
			kinds = append(kinds, found...)
		}
	}
	if len(dirs) == 0 {
		t.Fatal("found no package calling connectors.Register under connectors/")
	}
	slices.Sort(kinds)
	if diff := cmp.Diff(kinds, connectors.Kinds()); diff != "" {
		t.Errorf("kinds registered in the source (-) and at run time (+) differ; import the package in all.go:\n%s", diff)
	}

	imported := importsOf(t, "all.go")
	for _, d := range dirs {
		if !slices.Contains(imported, module+d) {
			t.Errorf("connectors/%s registers a kind but all.go does not import it", d)
		}
	}
}

// registeredKinds parses the non-test files of dir and returns the kind
// names passed to connectors.Register: string literals, or constants of the
// package defined by one.
func registeredKinds(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	consts := map[string]string{}
	var args []ast.Expr
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i < len(n.Values) {
						if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "connectors" && len(n.Args) > 0 {
						args = append(args, n.Args[0])
					}
				}
			}
			return true
		})
	}
	var kinds []string
	for _, a := range args {
		switch a := a.(type) {
		case *ast.BasicLit:
			s, _ := strconv.Unquote(a.Value)
			kinds = append(kinds, s)
		case *ast.Ident:
			s, ok := consts[a.Name]
			if !ok {
				t.Errorf("%s: connectors.Register(%s, ...): cannot find the constant's value", dir, a.Name)
			}
			kinds = append(kinds, s)
		default:
			t.Errorf("%s: connectors.Register needs a string literal or constant as its kind", dir)
		}
	}
	return kinds
}

func importsOf(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		out = append(out, p)
	}
	return out
}
