package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/store"
)

// runBI manages the logins BI tools connect with (package bi), as the owner
// of the tables (it creates roles):
//
//	gridhub bi grant --login NAME [--within CODE]
//	gridhub bi revoke --login NAME
//	gridhub bi list
//
// A granted login has no password: the operator sets one (ALTER ROLE NAME
// PASSWORD '...') or admits a client certificate in pg_hba.conf.
func runBI(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("bi: want grant, revoke or list")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("bi "+sub, flag.ContinueOnError)
	dir := dataDirFlag(fs)
	login := fs.String("login", "", "the login role of the BI tool (created when missing)")
	within := fs.String("within", "", "grant: the unit code whose units the login sees (a street's 9 digits, ...); empty: the whole area")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if *dir, err = databaseDir(fs, *dir, os.Getenv); err != nil {
		return err
	}
	t, err := openTarget(ctx, *dir)
	if err != nil {
		return err
	}
	defer t.stop()
	st, err := store.Open(ctx, t.url)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "grant":
		a, err := bi.Grant(ctx, st.Pool, *login, *within)
		if err != nil {
			return err
		}
		scope := a.Within
		if scope == "" {
			scope = "the whole area"
		}
		fmt.Printf("%s may read the bi schema: %s (set its password: ALTER ROLE %s PASSWORD '...')\n", a.Login, scope, a.Login)
	case "revoke":
		if err := bi.Revoke(ctx, st.Pool, *login); err != nil {
			return err
		}
		fmt.Printf("%s may no longer read the bi schema\n", *login)
	case "list":
		all, err := bi.List(ctx, st.Pool)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tWITHIN\tGRANTED")
		for _, a := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Login, a.Within, a.GrantedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	default:
		return fmt.Errorf("bi: unknown command %q: want grant, revoke or list", sub)
	}
	return nil
}
