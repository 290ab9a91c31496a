// Command gridhub is the hub's one binary: the server, the one-machine dev
// environment, and the operator commands (migrate, seed).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gridhub/gridhub/internal/telemetry"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `gridhub: one GraphQL API over the community grid's department data.

Usage:
  gridhub dev     [--data-dir DIR] [--port N] [--scale demo|city] [--residents N] [--config DIR]
  gridhub serve   [--addr HOST:PORT]          (GRIDHUB_DATABASE_URL, GRIDHUB_SECRET_KEY, ...)
  gridhub migrate [--data-dir DIR] [--wait D]   (--wait: apply none, wait until applied)
  gridhub seed    [--data-dir DIR] [--scale demo|city] [--residents N] [--seed N] [--truth DIR]
  gridhub sync    [--data-dir DIR] [--full] [--department D]   (pull the departments' fact feeds once)
  gridhub deptsim --department D [--data-dir DIR] [--port N]   (one simulated department system)
  gridhub token   --role R [--department D] [--scope CODE,...] [--data-dir DIR]
  gridhub verify-audit [--data-dir DIR] [--checkpoints DIR]
  gridhub bi grant --login NAME [--within CODE] | revoke --login NAME | list [--data-dir DIR]
  gridhub config  check [DIR] | dump DIR      (the configuration directory: departments, policy, catalogues)

Commands that work on a database take --data-dir to act on a "gridhub dev" data
dir, or GRIDHUB_DATABASE_URL otherwise.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "gridhub:", err)
		os.Exit(1)
	}
}

// gcPercent is the garbage collector's target when GOGC is not set: the
// hub allocates per request a garbage of short-lived objects (the GraphQL
// executor's field contexts), and collecting at 4 times the live heap rather
// than twice halves the collector's CPU share for a few tens of megabytes.
const gcPercent = 400

func run(args []string) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	slog.SetDefault(slog.New(telemetry.LogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest)
	case "serve":
		return runServe(ctx, rest)
	case "migrate":
		return runMigrate(ctx, rest)
	case "seed":
		return runSeed(ctx, rest)
	case "sync":
		return runSync(ctx, rest)
	case "deptsim":
		return runDeptsim(ctx, rest)
	case "token":
		return runToken(ctx, rest)
	case "verify-audit":
		return runVerifyAudit(ctx, rest)
	case "bi":
		return runBI(ctx, rest)
	case "config":
		err := runConfig(rest, os.Stdout, os.Stderr)
		if errors.Is(err, errProblems) {
			os.Exit(1) // the problems are printed
		}
		return err
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
