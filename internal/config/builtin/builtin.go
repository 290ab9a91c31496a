// Package builtin is the configuration directory the hub ships with, embedded:
// the six departments of the demo city (departments/*.yaml), the purpose
// catalogue (policy.yaml), the indicator catalogue (indicators.yaml), the
// findings catalogue (findings.yaml), the unified report's field catalogue
// and templates (report/), and the grid's daily work (gridwork.yaml). A directory given
// with GRIDHUB_CONFIG has the same layout and replaces it; `gridhub config
// dump DIR` writes this one out as a starting point.
package builtin

import (
	"embed"
	"io/fs"

	"github.com/gridhub/gridhub/connectors"
)

// FS is the built-in configuration directory.
//
//go:embed departments/*.yaml policy.yaml indicators.yaml findings.yaml report/catalogue.yaml report/templates/*.yaml gridwork.yaml
var FS embed.FS

// Name is how errors name the built-in directory.
const Name = "builtin"

// Departments are the built-in department mapping files, loaded.
func Departments() ([]*connectors.Department, error) {
	sub, err := fs.Sub(FS, "departments")
	if err != nil {
		return nil, err
	}
	return connectors.LoadDepartmentsFS(sub, Name+"/departments")
}

// File is one built-in file's content; it panics on a name not embedded.
func File(name string) []byte {
	b, err := FS.ReadFile(name)
	if err != nil {
		panic("builtin: " + err.Error())
	}
	return b
}
