package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
)

const configUsage = `gridhub config: the configuration directory (departments, policy, catalogues).

Usage:
  gridhub config check [--samples N] [--data-dir DIR] [CONFIG]
                               check CONFIG (default $GRIDHUB_CONFIG, else the built-in
                               set) without starting anything: every file strictly
                               decoded, every cross-reference resolved; one problem
                               per line as file:line; exit 1 on any error. With
                               --samples, also read the first N records of each
                               department's fact feed (GRIDHUB_DEPT_*, or the running
                               gridhub dev of --data-dir) and warn of a field holding
                               ID or phone numbers that declares no identifier class
  gridhub config dump DIR      write the built-in set to DIR, to start from

A configuration directory holds departments/*.yaml (required), policy.yaml,
indicators.yaml, report/catalogue.yaml and report/templates/*.yaml (the built-in
ones stand in for those missing).
`

// runConfig runs the config subcommands.
func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "check":
		return configCheck(args[1:], stdout, stderr)
	case "dump":
		if len(args) != 2 {
			fmt.Fprint(stderr, configUsage)
			return errors.New("config dump takes one directory")
		}
		return configDump(args[1], stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, configUsage)
		return nil
	}
	fmt.Fprint(stderr, configUsage)
	return fmt.Errorf("unknown config command %q", args[0])
}

// errProblems is configCheck's failure: the problems are already printed.
var errProblems = errors.New("the configuration has errors")

func configCheck(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	samples := fs.Int("samples", 0, "read this many records of each department's fact feed and check them for undeclared identifiers")
	dataDir := dataDirFlag(fs) // with --samples: reach the departments of this running gridhub dev
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("config check takes at most one directory")
	}
	dir := os.Getenv("GRIDHUB_CONFIG")
	if fs.NArg() == 1 {
		dir = fs.Arg(0)
	}
	if *samples > 0 {
		if err := loadEnvFile(filepath.Join(*dataDir, departmentsEnvFile)); err != nil {
			return err
		}
	}
	cfg, err := config.Load(dir)
	if err != nil {
		problems := config.Problems(err)
		for _, p := range problems {
			fmt.Fprintln(stdout, p)
		}
		fmt.Fprintf(stderr, "%d error(s)\n", len(problems))
		return errProblems
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if *samples > 0 {
		for _, w := range sampleIdentifiers(cfg, *samples, stderr) {
			fmt.Fprintln(stdout, "warning:", w)
		}
	}
	fmt.Fprintf(stdout, "%s: ok: %d departments (%s), %d purposes, %d indicators, %d report fields, %d templates",
		cfg.Dir, len(cfg.Departments), strings.Join(cfg.Codes(), ", "), len(cfg.Policy.Purposes()),
		len(cfg.Indicators.All()), len(cfg.Catalogue.Fields), len(cfg.Templates.List()))
	if len(cfg.Builtin) > 0 {
		fmt.Fprintf(stdout, "; built-in: %s", strings.Join(cfg.Builtin, ", "))
	}
	fmt.Fprintln(stdout)
	return nil
}

// configDump writes the built-in configuration to dir, refusing to
// overwrite a file.
func configDump(dir string, stdout io.Writer) error {
	return fs.WalkDir(builtin.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if strings.HasSuffix(p, ".go") {
			return nil
		}
		raw, err := builtin.FS.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("config dump: %w", err)
		}
		if _, err := f.Write(raw); err != nil {
			f.Close()
			return err
		}
		fmt.Fprintln(stdout, target)
		return f.Close()
	})
}

// sampleIdentifiers reads the first n records of each department's fact
// feed and reports the fields that hold identifiers without declaring a
// class. A department that cannot be read is reported on w and skipped.
func sampleIdentifiers(cfg *config.Config, n int, w io.Writer) []error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []error
	for _, d := range cfg.Departments {
		conn, err := connectors.Open(d)
		if err != nil {
			fmt.Fprintf(w, "samples of %s: %v\n", d.Code, err)
			continue
		}
		feed, ok := conn.(connectors.FactFeed)
		if ok && len(d.FactSets()) > 0 {
			page, err := feed.Facts(ctx, "", n)
			if err != nil {
				fmt.Fprintf(w, "samples of %s: %v\n", d.Code, err)
			} else {
				out = append(out, config.UndeclaredIdentifiers(d, page.Facts)...)
			}
		} else {
			fmt.Fprintf(w, "samples of %s: no fact feed to sample\n", d.Code)
		}
		if c, ok := conn.(connectors.Closer); ok {
			c.Close()
		}
	}
	return out
}
