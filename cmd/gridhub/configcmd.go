package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
)

const configUsage = `gridhub config: the configuration directory (departments, policy, catalogues).

Usage:
  gridhub config check [DIR]   check DIR (default $GRIDHUB_CONFIG, else the built-in
                               set) without starting anything: every file strictly
                               decoded, every cross-reference resolved; one problem
                               per line as file:line; exit 1 on any error
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
	if len(args) > 1 {
		return errors.New("config check takes at most one directory")
	}
	dir := os.Getenv("GRIDHUB_CONFIG")
	if len(args) == 1 {
		dir = args[0]
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
