package deptsim

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// UpgradeSQL adds to a SQL department's database what later versions of its
// legacy schema have (the report inbox), leaving the data alone; LoadSQL
// creates it already, so this is for a dev data dir loaded before. It is
// idempotent.
func UpgradeSQL(ctx context.Context, dept, databaseURL string) error {
	if err := checkDept(dept, KindSQL); err != nil {
		return err
	}
	ddl := civilAffairsInbox
	if dept == Health {
		ddl = healthInbox
	}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("deptsim %s: connect: %w", dept, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("deptsim %s: upgrade: %w", dept, err)
	}
	return nil
}

// sqlTouch is the UPDATE TouchSQL runs on a department's main table: the
// status moves on, and every changed row gets one update time, later than any
// row has, so that the fact feed lists exactly these rows after a caught-up
// watermark ($1 the number of rows, $2 the time now).
var sqlTouch = map[string]struct{ set, query string }{
	CivilAffairs: {"dibao", `
UPDATE mz_dbjz SET zt = CASE zt WHEN '1' THEN '2' WHEN '2' THEN '3' ELSE '1' END,
  gxsj = greatest($2::timestamp, (SELECT date_trunc('second', max(gxsj)) + interval '1 second' FROM mz_dbjz))
WHERE id IN (SELECT id FROM mz_dbjz ORDER BY random() LIMIT $1)
RETURNING id, coalesce(upper(trim(sfzh)), '')`},
	Health: {"floating", `
UPDATE t_ldrk SET jzzbz = CASE jzzbz WHEN '1' THEN '0' ELSE '1' END,
  gxsj = greatest($2::timestamp, (SELECT date_trunc('second', max(gxsj)) + interval '1 second' FROM t_ldrk))
WHERE id IN (SELECT id FROM t_ldrk ORDER BY random() LIMIT $1)
RETURNING id, coalesce(upper(trim(sfzh)), '')`},
}

// TouchSQL changes n random rows of a SQL department's main record table, as
// its clerks would: civil_affairs' 低保 status (mz_dbjz.zt), health's
// residence permit flag (t_ldrk.jzzbz). It returns the rows changed, with the
// record set as Resource and the row id as ID, as the fact feed names them.
func TouchSQL(ctx context.Context, dept, databaseURL string, n int) ([]Touched, error) {
	if err := checkDept(dept, KindSQL); err != nil {
		return nil, err
	}
	t := sqlTouch[dept]
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("deptsim %s: connect: %w", dept, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, t.query, n, wall(time.Now()))
	if err != nil {
		return nil, fmt.Errorf("deptsim %s: touch: %w", dept, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Touched, error) {
		var id int64
		var key string
		err := r.Scan(&id, &key)
		return Touched{Resource: t.set, ID: strconv.FormatInt(id, 10), Key: key}, err
	})
	if err != nil {
		return nil, fmt.Errorf("deptsim %s: touch: %w", dept, err)
	}
	return out, nil
}
