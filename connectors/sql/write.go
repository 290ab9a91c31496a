package sql

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
)

var _ connectors.Writer = (*Source)(nil)

// Write inserts the delivery as one row of the department's inbox table,
// keyed by its idempotency key: INSERT ... ON CONFLICT (idempotency_key) DO
// NOTHING, so that a retry of a delivery that went through is a no-op
// success. Values go as text and the database converts them to the columns'
// types, since a legacy inbox may keep a code as char(1) or smallint and a
// date as date or char(8).
func (s *Source) Write(ctx context.Context, del connectors.Delivery) error {
	vals, err := s.dept.EncodeDelivery(del)
	if err != nil {
		return fmt.Errorf("sql %s: deliver: %w", s.dept.Code, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sql %s: deliver: %w", s.dept.Code, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("sql %s: deliver: %w", s.dept.Code, errClosed)
	}
	wb := s.dept.WriteBack
	cols := make([]string, len(vals))
	params := make([]string, len(vals))
	args := make([]any, len(vals))
	for i, v := range vals {
		cols[i] = pgx.Identifier{v.Target}.Sanitize()
		params[i] = "$" + strconv.Itoa(i+1)
		args[i] = text(v.Value)
	}
	q := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING",
		pgx.Identifier(strings.Split(wb.Table, ".")).Sanitize(), strings.Join(cols, ", "), strings.Join(params, ", "),
		pgx.Identifier{wb.IdempotencyKey}.Sanitize())
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("sql %s: deliver to %s: %w", s.dept.Code, wb.Table, classify(ctx, err))
	}
	return nil
}

// text is an encoded value as the text Postgres parses into the column's
// type; nil stays NULL.
func text(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
