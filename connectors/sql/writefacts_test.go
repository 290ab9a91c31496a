package sql

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
)

func TestWriteConformance(t *testing.T) {
	connectortest.RunWriter(t, func(t *testing.T) connectortest.WriteInstance {
		url, pool := newDB(t)
		d := loadDept(t, url)
		s := openSource(t, d, nil)
		return connectortest.WriteInstance{Conn: s, Dept: d, Inbox: func(t *testing.T) []connectortest.InboxEntry {
			return readInbox(t, pool)
		}}
	})
}

// readInbox reads sb_inbox, each column as the text Postgres writes it.
func readInbox(t *testing.T, pool *pgxpool.Pool) []connectortest.InboxEntry {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT idempotency_key, sfzh, dblx::text AS dblx, bzje::text AS bzje, qsrq::text AS qsrq,
		zt::text AS zt, jtrk::text AS jtrk, bz, zfqk, tbsj::text AS tbsj FROM sb_inbox`)
	if err != nil {
		t.Fatal(err)
	}
	maps, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		t.Fatal(err)
	}
	var out []connectortest.InboxEntry
	for _, m := range maps {
		out = append(out, connectortest.InboxEntry{IdempotencyKey: m["idempotency_key"].(string), Values: m})
	}
	return out
}

func TestFactsConformance(t *testing.T) {
	connectortest.RunFacts(t, func(t *testing.T, fx connectortest.Fixture) connectortest.FactsInstance {
		url, pool := newDB(t)
		d := loadDept(t, url)
		insertFixture(t, pool, d, fx)
		s := openSource(t, d, nil)
		later := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		return connectortest.FactsInstance{Conn: s, Dept: d,
			Touch: func(t *testing.T, keys []string) {
				later = later.Add(time.Hour)
				exec(t, pool, `UPDATE dibao SET jtrk = $2, gxsj = $3 WHERE upper(trim(sfzh)) = ANY($1)`, keys, connectortest.TouchedMembers, later)
			},
			Delete: func(t *testing.T, key string) {
				later = later.Add(time.Hour)
				exec(t, pool, `UPDATE dibao SET scbz = '1', gxsj = $2 WHERE upper(trim(sfzh)) = $1`, key, later)
			},
		}
	})
}

func delivery(t *testing.T, key string) connectors.Delivery {
	return connectors.Delivery{IdempotencyKey: key, Entity: connectors.Person, Key: testID(t, 1),
		Fields: map[string]any{"visit.note": "走访", "assistance.members": int64(2)}, SubmittedAt: time.Now()}
}

func TestWriteUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := openSource(t, loadDept(t, "postgres://gridhub@"+addr+"/x?sslmode=disable&connect_timeout=2"), nil)
	err = s.Write(context.Background(), delivery(t, "k1"))
	if !errors.Is(err, connectors.ErrNotConnected) || !connectors.Retryable(err) {
		t.Errorf("Write to a closed port: err = %v, want a retryable ErrNotConnected", err)
	}
	_, err = s.Facts(context.Background(), "", 10)
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Facts from a closed port: err = %v, want ErrNotConnected", err)
	}
}

// TestWriteRefused checks that an inbox the database refuses (no table, a
// column missing, a value its column cannot hold) fails permanently.
func TestWriteRefused(t *testing.T) {
	for name, ddl := range map[string]string{
		"no table":       `DROP TABLE sb_inbox`,
		"no column":      `ALTER TABLE sb_inbox DROP COLUMN zfqk`,
		"no primary key": `ALTER TABLE sb_inbox DROP CONSTRAINT sb_inbox_pkey`,
		"value too long": `ALTER TABLE sb_inbox ALTER COLUMN zfqk TYPE varchar(1)`,
	} {
		t.Run(name, func(t *testing.T) {
			url, pool := newDB(t)
			exec(t, pool, ddl)
			s := openSource(t, loadDept(t, url), nil)
			err := s.Write(context.Background(), delivery(t, "k1"))
			var perm *connectors.PermanentError
			if !errors.As(err, &perm) || !strings.Contains(err.Error(), "sb_inbox") {
				t.Errorf("err = %v, want a permanent error naming the inbox", err)
			}
		})
	}
}

func TestFactsRefused(t *testing.T) {
	url, pool := newDB(t)
	exec(t, pool, `INSERT INTO dibao (sfzh, dblx, zt) VALUES ($1, 1, 1)`, testID(t, 1))
	d := loadDept(t, url)
	d.Records[0].Facts.Query = `SELECT id, 'yesterday' AS gxsj, sfzh, dblx, bzje, qsrq, zt, jtrk, bz, false AS deleted FROM dibao WHERE $1::timestamp IS NOT NULL AND $2::int > -1 LIMIT $3`
	s := openSource(t, d, nil)
	_, err := s.Facts(context.Background(), "", 10)
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "not a timestamp") {
		t.Errorf("updated-at not a timestamp: err = %v, want a permanent error", err)
	}
	d.Records[0].Facts.Query = `SELECT id, gxsj, sfzh FROM dibao WHERE (gxsj, id) > ($1, $2) LIMIT $3`
	if _, err = s.Facts(context.Background(), "", 10); !errors.As(err, &perm) || !strings.Contains(err.Error(), `"dblx"`) {
		t.Errorf("columns missing: err = %v, want a permanent error naming them", err)
	}
	pool.Exec(context.Background(), `DROP TABLE dibao`)
	d.Records[0].Facts.Query = loadDept(t, url).Records[0].Facts.Query
	if _, err = s.Facts(context.Background(), "", 10); !errors.As(err, &perm) {
		t.Errorf("no table: err = %v, want a permanent error", err)
	}
}

// TestFactsSkipBadRows checks that rows that do not map are counted and
// passed over, that rows with no key are passed over uncounted, and that the
// feed goes on after them.
func TestFactsSkipBadRows(t *testing.T) {
	url, pool := newDB(t)
	a, b := testID(t, 1), testID(t, 2)
	exec(t, pool, `INSERT INTO dibao (sfzh, dblx, zt, gxsj) VALUES
		($1, 1, 1, '2024-01-01 08:00'), ('', 1, 1, '2024-01-01 08:00'), ($2, 9, 1, '2024-01-01 08:00'),
		($3, 1, 1, '2024-01-01 08:00'), ($2, 2, 1, '2024-01-01 08:01')`, a, b, b[:17]+string("10X98765432"[(strings.IndexByte("10X98765432", b[17])+1)%11]))
	s := openSource(t, loadDept(t, url), nil)
	var got []string
	since := ""
	for {
		p, err := s.Facts(context.Background(), since, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Facts {
			got = append(got, f.Key+" "+f.ID)
		}
		since = p.Watermark
		if !p.More {
			break
		}
	}
	if want := []string{a + " 1", b + " 5"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("facts %v, want %v", got, want)
	}
	if s.FactsSkipped() != 2 {
		t.Errorf("FactsSkipped() = %d, want 2", s.FactsSkipped())
	}
}
