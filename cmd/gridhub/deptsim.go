package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridhub/gridhub/internal/deptsim"
)

// departments is where the dev data dir keeps the simulated departments' files
// (deptsim.WriteFiles): one directory per REST department, the party ledger,
// and the noise ground truth.
func (d dataDir) departments() string { return filepath.Join(string(d), "departments") }

// runDeptsim runs one simulated REST department in the foreground, from the
// files `gridhub dev` wrote into the data dir, until interrupted.
func runDeptsim(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("deptsim", flag.ContinueOnError)
	dept := fs.String("department", "", "department: "+strings.Join(deptsim.Departments(), ", "))
	dir := dataDirFlag(fs) // the simulator reads DIR/departments/<department>/
	port := fs.Int("port", 0, "port on 127.0.0.1 (0: the department's default, the one its mapping file names)")
	key := fs.String("api-key", "", "API key to accept (default: $GRIDHUB_DEPT_<DEPARTMENT>_KEY, else the dev key)")
	fault := fs.String("fault", "", "inject a fault into every request: error, unavailable, ratelimit, slow or garbage, optionally MODE@RATE[/DELAY]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("deptsim: unexpected arguments %q", fs.Args())
	}
	d := dataDir(*dir)
	switch deptsim.Kind(*dept) {
	case "":
		if *dept == "" {
			return errors.New("deptsim: --department is required (" + strings.Join(deptsim.Departments(), ", ") + ")")
		}
		return fmt.Errorf("deptsim: unknown department %q (want one of %s)", *dept, strings.Join(deptsim.Departments(), ", "))
	case deptsim.KindSQL:
		return fmt.Errorf("deptsim: %s (%s) is a database, not a service: `gridhub dev` creates it as database %q in its Postgres cluster and points %s at it",
			*dept, deptsim.Name(*dept), deptsim.DatabaseName(*dept), strings.Join(deptsim.EnvNames(*dept), ", "))
	case deptsim.KindSheet:
		path := deptsim.LedgerPath(d.departments())
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("deptsim: %s keeps an .xlsx ledger, not a service, and there is none yet: %w (run gridhub dev first)", *dept, err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			abs = path
		}
		fmt.Printf("deptsim %s: ledger %s (no service to run; %s names it)\n", *dept, abs, deptsim.EnvNames(*dept)[0])
		return nil
	}
	if *key == "" {
		*key = envOr(deptsim.EnvNames(*dept)[1], deptsim.DefaultAPIKey(*dept))
	}
	if *port == 0 {
		*port = deptsim.DefaultPort(*dept)
	}
	f, err := deptsim.ParseFault(*fault)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", *port)
	return deptsim.ListenAndServe(ctx, *dept, d.departments(), *key, addr, f, func(url string) {
		fmt.Printf("deptsim %s: %s\n", *dept, url)
	})
}
