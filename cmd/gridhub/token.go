package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/auth"
)

const tokenUsage = `gridhub token: print a signed dev token (HS256, the dev data dir's key).

Usage:
  gridhub token --role R [--role R2 | --role R,R2] [--department D] [--scope CODE,...]
                [--subject S] [--ttl 12h] [--data-dir DIR]

Roles: dept_officer (needs --department), grid_worker (15-digit grid codes),
community_admin (12-digit community codes), street_admin (9-digit township codes),
bi_reader, auditor, admin.

It refuses, with exit status 1, to run against a production configuration:
  - GRIDHUB_ENV is "production" (or "prod");
  - GRIDHUB_JWKS_FILE or GRIDHUB_JWKS_URL is set and --data-dir is not given;
  - DIR is not a "gridhub dev" data dir: it must exist and hold postgres/ or
    secret.key (so the key lands where "gridhub dev" reads it, and nowhere else).
The key is DIR/dev-jwt.key, created on first use; only a hub started by
"gridhub dev" on the same DIR accepts the token.

Flags:
`

// devJWTKey is where a dev data dir keeps the HS256 key that dev tokens are
// signed with and "gridhub dev" verifies them with.
func (d dataDir) devJWTKey() string { return filepath.Join(string(d), "dev-jwt.key") }

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// maxDevTTL bounds dev tokens: they are pasted into GraphiQL and shell history,
// so they should not outlive a working week.
const maxDevTTL = 7 * 24 * time.Hour

// runToken prints a signed dev token for the principal the flags describe.
func runToken(_ context.Context, args []string) error {
	return tokenCmd(args, os.Getenv, os.Stdout, os.Stderr)
}

// tokenCmd is runToken with its environment and output passed in, for tests.
func tokenCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, tokenUsage)
		fs.PrintDefaults()
	}
	var roles, scope listFlag
	fs.Var(&roles, "role", "role, repeatable or comma-separated")
	fs.Var(&scope, "scope", "grid code prefixes, repeatable or comma-separated")
	department := fs.String("department", "", "department of a dept_officer: one the configuration has (gridhub config check lists them)")
	confDir := fs.String("config", "", "configuration directory the department must be in (default $GRIDHUB_CONFIG, else the one the data dir's gridhub dev runs with, else the built-in)")
	subject := fs.String("subject", "", `subject ("sub"); default "dev-<role>"`)
	ttl := fs.Duration("ttl", 12*time.Hour, "lifetime of the token (at most 168h)")
	dir := dataDirFlag(fs) // its dev key signs the token
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	if err := devOnly(getenv, *dir, flagGiven(fs, "data-dir")); err != nil {
		return err
	}

	if len(roles) == 0 {
		return errors.New("token: give at least one --role (" + roleNames() + ")")
	}
	if *ttl <= 0 || *ttl > maxDevTTL {
		return fmt.Errorf("token: --ttl %s is outside (0, %s]", *ttl, maxDevTTL)
	}
	p := auth.Principal{Subject: *subject, Department: *department, Scope: scope}
	for _, r := range roles {
		role, err := auth.ParseRole(r)
		if err != nil {
			return fmt.Errorf("token: %w (want %s)", err, roleNames())
		}
		p.Roles = append(p.Roles, role)
	}
	if p.Subject == "" {
		p.Subject = "dev-" + strings.Join(roles, "+")
	}
	// Validate before touching the key, so a wrong flag never creates files.
	if err := p.Validate(); err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if p.Department != "" {
		conf, err := loadConfig(tokenConfigDir(*confDir, getenv, dataDir(*dir)))
		if err != nil {
			return fmt.Errorf("token: %w", err)
		}
		if err := p.CheckDepartment(conf.Codes()); err != nil {
			return fmt.Errorf("token: %w", err)
		}
	}
	key, err := auth.LoadOrCreateDevKey(dataDir(*dir).devJWTKey())
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	tok, err := auth.DevToken(key, p, *ttl)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// tokenConfigDir is the configuration a token's department is checked
// against: --config, else GRIDHUB_CONFIG, else the one gridhub dev runs the
// data dir with, else the built-in ("").
func tokenConfigDir(flagDir string, getenv func(string) string, d dataDir) string {
	if flagDir != "" {
		return flagDir
	}
	if v := getenv("GRIDHUB_CONFIG"); v != "" {
		return v
	}
	if b, err := os.ReadFile(d.configPath()); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// devOnly enforces the refusal rules of the usage text. Minting is refused on
// any sign of a production configuration, because a dev key sitting next to a
// production hub is one misconfiguration away from a skeleton key.
func devOnly(getenv func(string) string, dir string, dirGiven bool) error {
	switch strings.ToLower(strings.TrimSpace(getenv("GRIDHUB_ENV"))) {
	case "production", "prod":
		return errors.New("token: refused: GRIDHUB_ENV is production; production tokens come from the identity provider")
	}
	if !dirGiven {
		for _, k := range []string{"GRIDHUB_JWKS_FILE", "GRIDHUB_JWKS_URL"} {
			if getenv(k) != "" {
				return fmt.Errorf("token: refused: %s is set, so this looks like a production hub; pass --data-dir of a gridhub dev data dir to mint a dev token anyway", k)
			}
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return fmt.Errorf("token: refused: %s is not a gridhub dev data dir (run \"gridhub dev --data-dir %s\" first)", dir, dir)
	}
	if !isDevDataDir(dir) {
		return fmt.Errorf("token: refused: %s holds neither postgres/ nor secret.key, so it is not a gridhub dev data dir", dir)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func roleNames() string {
	var s []string
	for _, r := range auth.Roles() {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}
