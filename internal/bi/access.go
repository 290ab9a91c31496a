package bi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
)

// Access is one BI login and the units it sees: those whose code starts with
// Within ("" for the whole area).
type Access struct {
	Login     string
	Within    string
	GrantedAt time.Time
}

var loginRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Grant lets login read the bi tables of the units under within ("" or the
// city's 4-digit code: the whole area; else a unit code of the registry). It
// runs as the owner of the tables (it creates roles): a missing login is
// created as a LOGIN role without password, member of gridhub_bi and of
// nothing else, and an existing one is made a member. A role that could read
// more than bi (a superuser, one that bypasses row-level security, a member
// of the hub's role) is refused, since the scope would not hold for it.
// Errors for bad arguments are *apperr.Error (BAD_USER_INPUT).
func Grant(ctx context.Context, owner *pgxpool.Pool, login, within string) (Access, error) {
	if !loginRE.MatchString(login) {
		return Access{}, apperr.BadInput("login", "login_name", "login %q: want lower-case letters, digits and _, not starting with a digit", login)
	}
	within, err := checkWithin(ctx, owner, within)
	if err != nil {
		return Access{}, err
	}
	var out Access
	err = pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		var super, bypass, app bool
		err := tx.QueryRow(ctx, `SELECT rolsuper, rolbypassrls, pg_has_role(oid, 'gridhub_app', 'MEMBER') FROM pg_roles WHERE rolname = $1`, login).
			Scan(&super, &bypass, &app)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			if _, err := tx.Exec(ctx, `CREATE ROLE `+pgx.Identifier{login}.Sanitize()+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS`); err != nil {
				return fmt.Errorf("create role %s: %w", login, err)
			}
		case err != nil:
			return err
		case super || bypass || app:
			return apperr.BadInput("login", "login_privileged",
				"role %s reads more than bi (superuser %t, bypasses row security %t, member of gridhub_app %t): use a role of its own", login, super, bypass, app)
		}
		if _, err := tx.Exec(ctx, `GRANT `+Role+` TO `+pgx.Identifier{login}.Sanitize()); err != nil {
			return fmt.Errorf("grant %s to %s: %w", Role, login, err)
		}
		return tx.QueryRow(ctx, `INSERT INTO bi.access (login, within) VALUES ($1, $2)
			ON CONFLICT (login) DO UPDATE SET within = excluded.within, granted_at = now()
			RETURNING login, within, granted_at`, login, within).Scan(&out.Login, &out.Within, &out.GrantedAt)
	})
	if err != nil {
		if e, ok := apperr.As(err); ok {
			return Access{}, e
		}
		return Access{}, fmt.Errorf("bi: grant %s: %w", login, err)
	}
	return out, nil
}

// checkWithin turns within into the prefix stored: "" for the whole area
// (also the city's 4-digit code), else a unit code of the registry.
func checkWithin(ctx context.Context, pool *pgxpool.Pool, within string) (string, error) {
	if within == "" {
		return "", nil
	}
	if len(within) == 4 {
		var city bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM grid_units WHERE level = 1 AND starts_with(code, $1))`, within).Scan(&city); err != nil {
			return "", err
		}
		if !city {
			return "", apperr.BadInput("within", "unknown_unit", "no district of city %s in the registry", within)
		}
		return "", nil
	}
	if _, ok := grid.LevelOf(within); !ok {
		return "", apperr.BadInput("within", "grid_code", "%q is not a grid unit code (6, 9, 12 or 15 digits, or the city's 4)", within)
	}
	var known bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM grid_units WHERE code = $1)`, within).Scan(&known); err != nil {
		return "", err
	}
	if !known {
		return "", apperr.BadInput("within", "unknown_unit", "no grid unit %s in the registry", within)
	}
	return within, nil
}

// Revoke removes login's access to bi: its row of bi.access and its
// membership of gridhub_bi (the role itself stays, for the operator to drop).
// Revoking a login that has no access is not an error.
func Revoke(ctx context.Context, owner *pgxpool.Pool, login string) error {
	if !loginRE.MatchString(login) {
		return apperr.BadInput("login", "login_name", "login %q: want lower-case letters, digits and _", login)
	}
	return pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM bi.access WHERE login = $1`, login); err != nil {
			return fmt.Errorf("bi: revoke %s: %w", login, err)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, login).Scan(&exists); err != nil || !exists {
			return err
		}
		if _, err := tx.Exec(ctx, `REVOKE `+Role+` FROM `+pgx.Identifier{login}.Sanitize()); err != nil {
			return fmt.Errorf("bi: revoke %s: %w", login, err)
		}
		return nil
	})
}

// List returns every BI login's access, by login.
func List(ctx context.Context, owner *pgxpool.Pool) ([]Access, error) {
	rows, _ := owner.Query(ctx, `SELECT login, within, granted_at FROM bi.access ORDER BY login`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Access, error) {
		var a Access
		err := r.Scan(&a.Login, &a.Within, &a.GrantedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("bi: list: %w", err)
	}
	return out, nil
}
