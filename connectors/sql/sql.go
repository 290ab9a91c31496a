// Package sql is the connector kind for departments whose records live in a
// PostgreSQL database with its own legacy schema (民政, 卫健).
//
// Each record set is one SELECT in the mapping file that takes the batch of
// keys as $1 (a text[]), so a read costs one query per record set whatever
// the batch size. Columns are matched to the mapping by the names the query
// returns them under.
//
// Departments store identity numbers in whatever form they were typed: a
// lower-case x, 15-digit first-generation numbers, stray spaces. So $1 holds
// every key in its 18-character form and, for persons born in the 1900s, also
// its 15-digit form, and a query should compare a normalised column:
//
//	WHERE upper(trim(sfzh)) = ANY($1)
//
// The rows' keys are normalised again here and matched to the keys asked for.
// A record set that is not many keeps the first row of a key, so its query
// orders the newest first (ORDER BY gxsj DESC).
package sql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/connectors"
)

// Kind is the connector kind name in department files.
const Kind = "sql"

func init() {
	connectors.Register(Kind, func(d *connectors.Department) (connectors.Connector, error) {
		s, err := Open(d)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

// defaultMaxConns bounds the pool when the mapping does not: a department
// database is someone else's production system.
const defaultMaxConns = 4

// Source is a department database.
type Source struct {
	dept    *connectors.Department
	pool    *pgxpool.Pool
	skipped atomic.Int64
	// factsSkipped counts rows the fact feed left out.
	factsSkipped atomic.Int64
	closed       atomic.Bool
}

// errClosed is a read after Close; pgxpool's own error for it does not say
// whether the source can be reached, which is what callers decide on.
var errClosed = fmt.Errorf("connector closed: %w", connectors.ErrNotConnected)

var (
	_ connectors.Connector     = (*Source)(nil)
	_ connectors.HealthChecker = (*Source)(nil)
	_ connectors.Closer        = (*Source)(nil)
)

// Open makes the connection pool of a sql department. It does not connect:
// a database that is down must not stop the hub from starting, so the first
// read or Health finds out.
func Open(dept *connectors.Department) (*Source, error) {
	return open(dept, nil)
}

// open is Open with a hook to adjust the pool's configuration, for tests.
func open(dept *connectors.Department, configure func(*pgxpool.Config)) (*Source, error) {
	if dept.Source.SQL == nil {
		return nil, fmt.Errorf("sql %s: no source.sql block", dept.Code)
	}
	dsn := dept.Source.SQL.DSN
	if strings.TrimSpace(dsn) == "" {
		// An empty DSN would make pgx fall back to PG* variables and the
		// local socket: a quiet way to read the wrong database.
		return nil, fmt.Errorf("sql %s: source.sql.dsn is empty (is its environment variable set?)", dept.Code)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message shows the DSN with its password redacted.
		return nil, fmt.Errorf("sql %s: source.sql.dsn: %w", dept.Code, err)
	}
	cfg.MaxConns = defaultMaxConns
	if n := dept.Source.SQL.MaxConns; n > 0 {
		cfg.MaxConns = int32(n)
	}
	cfg.MinConns = 0
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("sql %s: %w", dept.Code, err)
	}
	return &Source{dept: dept, pool: pool}, nil
}

// Describe says what the connector serves.
func (s *Source) Describe() connectors.Description {
	return connectors.Description{Code: s.dept.Code, Name: s.dept.Name, Kind: s.dept.Kind, Sets: s.dept.Records}
}

// Read runs one query per record set asked for. Rows whose key does not
// normalise or whose fields do not convert are skipped and counted (see
// Skipped); they are an error only when a set's query returned rows and none
// of them could be used, since that means the mapping, not the data, is wrong.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest) (connectors.Result, error) {
	sets, err := s.dept.SetsFor(req)
	if err != nil {
		return nil, fmt.Errorf("sql %s: %w", s.dept.Code, err)
	}
	res := connectors.Result{}
	if len(req.Keys) == 0 || len(sets) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sql %s: read: %w", s.dept.Code, err)
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("sql %s: read: %w", s.dept.Code, errClosed)
	}
	args := queryKeys(req.Entity, req.Keys)
	want := make(map[string]bool, len(req.Keys))
	for _, k := range req.Keys {
		want[k] = true
	}
	for _, rs := range sets {
		if err := s.readSet(ctx, rs, args, want, res); err != nil {
			return nil, fmt.Errorf("sql %s: read %s: %w", s.dept.Code, rs.Name, err)
		}
	}
	return res, nil
}

// Skipped is how many rows reads have skipped because their key did not
// normalise or a field did not convert.
func (s *Source) Skipped() int64 { return s.skipped.Load() }

func (s *Source) readSet(ctx context.Context, rs *connectors.RecordSet, args []string, want map[string]bool, res connectors.Result) error {
	rows, err := s.pool.Query(ctx, rs.Query, args)
	if err != nil {
		return classify(ctx, err)
	}
	defer rows.Close()
	// Read the columns now: after the last row pgxpool hands the connection,
	// and the descriptions with it, to another query.
	cols, err := columns(rs, rows.FieldDescriptions())
	if err != nil {
		// No columns may also mean the query failed, which pgx reports
		// only once the rows are closed.
		rows.Close()
		if qerr := rows.Err(); qerr != nil {
			return classify(ctx, qerr)
		}
		return err
	}
	var good, bad int
	var firstBad error
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return classify(ctx, err)
		}
		get := func(from string) (any, bool) {
			return plain(vals[cols[from]]), true
		}
		key, err := rs.KeyOf(get)
		if err == nil && !want[key] {
			continue // a row the query matched loosely; not asked for
		}
		var rec connectors.Record
		if err == nil {
			rec, err = rs.MapRecord(get)
		}
		if err != nil {
			bad++
			if firstBad == nil {
				firstBad = err
			}
			continue
		}
		good++
		rs.AddTo(res, key, rec)
	}
	if err := rows.Err(); err != nil {
		return classify(ctx, err)
	}
	s.skipped.Add(int64(bad))
	if bad > 0 && good == 0 {
		return connectors.Permanentf("none of %d rows could be mapped; the first: %w", bad, firstBad)
	}
	return nil
}

// columns maps the query's column names to their positions, and fails when
// the mapping names a column the query does not return.
func columns(rs *connectors.RecordSet, fds []pgconn.FieldDescription) (map[string]int, error) {
	return columnsNamed(fds, append([]string{rs.Key}, fromsOf(rs)...))
}

// columnsNamed maps the query's column names to their positions, and fails
// when one of names is not among them.
func columnsNamed(fds []pgconn.FieldDescription, names []string) (map[string]int, error) {
	cols := map[string]int{}
	for i, fd := range fds {
		cols[fd.Name] = i
	}
	var missing []string
	for _, from := range names {
		if _, ok := cols[from]; !ok {
			missing = append(missing, fmt.Sprintf("%q", from))
		}
	}
	if len(missing) > 0 {
		return nil, connectors.Permanentf("the query returns no column %s (columns are matched by name as the query returns them)", strings.Join(missing, ", "))
	}
	return cols, nil
}

func fromsOf(rs *connectors.RecordSet) []string {
	out := make([]string, len(rs.Fields))
	for i, f := range rs.Fields {
		out[i] = f.From
	}
	return out
}

// plain turns the pgx values that are not plain Go values into ones the
// mapping converts: a numeric into its decimal string, so that no digit is
// lost on the way to a decimal field.
func plain(v any) any {
	n, ok := v.(pgtype.Numeric)
	if !ok {
		return v
	}
	if !n.Valid {
		return nil
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return "NaN"
	}
	b, err := n.MarshalJSON()
	if err != nil {
		return "NaN"
	}
	return string(b)
}

// queryKeys is $1: each key as asked for and, for a person born in the
// 1900s, also the 15-digit first-generation form of the number, which legacy
// tables still hold for people who never renewed their card.
func queryKeys(entity string, keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k)
		if entity == connectors.Person && len(k) == 18 && k[6:8] == "19" {
			out = append(out, k[:6]+k[8:17])
		}
	}
	return out
}

// Health pings the database.
func (s *Source) Health(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("sql %s: ping: %w", s.dept.Code, errClosed)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("sql %s: ping: %w", s.dept.Code, classify(ctx, err))
	}
	return nil
}

// Close closes the pool.
func (s *Source) Close() error {
	s.closed.Store(true)
	s.pool.Close()
	return nil
}

// classify sorts a pgx error into the connectors error taxonomy: the caller's
// cancellation as is, an unreachable server as ErrNotConnected, a statement
// the database rejects (undefined table or column, syntax, privileges, wrong
// types, a constraint a delivery breaks, a login refused) as permanent, the
// rest as retryable.
func classify(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The caller gave up; say so in a form errors.Is recognises, whatever
		// pgx made of it.
		if !errors.Is(err, ctxErr) {
			return fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch class := pgErr.Code[:2]; class {
		case "08", "57": // connection exception; operator intervention (shutdown)
			return fmt.Errorf("%w: %w", connectors.ErrNotConnected, err)
		case "42", "22", "23", "28", "3D", "0A": // syntax/access; data; integrity (a code the inbox refuses); auth; no database; unsupported
			return connectors.Permanent(err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// EOF: the server closed the connection under a query (a restart).
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", connectors.ErrNotConnected, err)
	}
	return err
}
