// Package fedtest provides an in-memory connector kind for tests of the hub's
// federated reads: it answers every key with generated records, counts calls,
// and can be told to fail, hang or answer garbage.
package fedtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gridhub/gridhub/connectors"
)

// Kind is the connector kind name this package registers.
const Kind = "memory"

// Mode is how a Source answers.
type Mode int32

// The modes a Source can be switched to.
const (
	Up      Mode = iota // answer
	Down                // refuse: not connected
	Hang                // answer only when the context ends
	Garbage             // fail as a source answering unreadable data does
)

// Source is the in-memory department behind one memory connector.
type Source struct {
	mode  atomic.Int32
	calls atomic.Int64
	keys  atomic.Int64
	text  atomic.Pointer[TextFunc]
}

// TextFunc gives a text field's value in the i-th record of a set for key.
type TextFunc func(field, key string, i int) string

// SetText has the source answer text fields with f (nil: the default,
// "field-<last four of the key>-i").
func (s *Source) SetText(f TextFunc) {
	if f == nil {
		s.text.Store(nil)
		return
	}
	s.text.Store(&f)
}

// Calls is how many Read calls reached the source.
func (s *Source) Calls() int64 { return s.calls.Load() }

// Keys is how many keys those calls asked for in all.
func (s *Source) Keys() int64 { return s.keys.Load() }

// Set switches the source's mode.
func (s *Source) Set(m Mode) { s.mode.Store(int32(m)) }

var (
	mu      sync.Mutex
	sources = map[string]*Source{}
	once    sync.Once
)

// Register registers the memory kind (once per process).
func Register() {
	once.Do(func() {
		connectors.Register(Kind, func(d *connectors.Department) (connectors.Connector, error) {
			return &conn{dept: d, src: SourceFor(d.Code)}, nil
		})
	})
}

// SourceFor returns the source of department code, creating it on first use.
func SourceFor(code string) *Source {
	mu.Lock()
	defer mu.Unlock()
	s, ok := sources[code]
	if !ok {
		s = &Source{}
		sources[code] = s
	}
	return s
}

// AsMemory turns real department mappings into memory ones: same codes and
// record sets, answered in memory. Each department gets a fresh Source.
func AsMemory(depts []*connectors.Department) []*connectors.Department {
	out := make([]*connectors.Department, len(depts))
	mu.Lock()
	defer mu.Unlock()
	for i, d := range depts {
		c := *d
		c.Kind = Kind
		c.Timeout = connectors.Duration(500 * time.Millisecond)
		out[i] = &c
		sources[c.Code] = &Source{}
	}
	return out
}

type conn struct {
	dept *connectors.Department
	src  *Source
}

func (c *conn) Describe() connectors.Description {
	return connectors.Description{Code: c.dept.Code, Name: c.dept.Name, Kind: Kind, Sets: c.dept.Records}
}

// Read answers every key with one record per record set of the entity (two for
// a Many set), each field filled with a value of its type.
func (c *conn) Read(ctx context.Context, req connectors.ReadRequest) (connectors.Result, error) {
	c.src.calls.Add(1)
	c.src.keys.Add(int64(len(req.Keys)))
	switch Mode(c.src.mode.Load()) {
	case Down:
		return nil, fmt.Errorf("memory %s: %w", c.dept.Code, connectors.ErrNotConnected)
	case Hang:
		<-ctx.Done()
		return nil, ctx.Err()
	case Garbage:
		return nil, connectors.Permanentf("memory %s: answer is not JSON", c.dept.Code)
	}
	text := func(field, key string, i int) string { return fmt.Sprintf("%s-%s-%d", field, key[len(key)-4:], i) }
	if f := c.src.text.Load(); f != nil {
		text = *f
	}
	res := connectors.Result{}
	for _, k := range req.Keys {
		for _, rs := range c.dept.Records {
			if rs.Entity != req.Entity {
				continue
			}
			n := 1
			if rs.Many {
				n = 2
			}
			for i := 0; i < n; i++ {
				res.Add(k, rs.Name, record(rs, k, i, text))
			}
		}
	}
	return res, nil
}

func record(rs connectors.RecordSet, key string, i int, text TextFunc) connectors.Record {
	r := connectors.Record{}
	for _, f := range rs.Fields {
		switch f.Type {
		case connectors.TypeInt:
			r[f.Name] = int64(i + 1)
		case connectors.TypeDecimal:
			r[f.Name] = 117.8 + float64(i)/100
		case connectors.TypeBool:
			r[f.Name] = i == 0
		case connectors.TypeDate:
			r[f.Name] = time.Date(2020, 1, 1+i, 0, 0, 0, 0, time.UTC)
		default:
			r[f.Name] = text(f.Name, key, i)
		}
	}
	return r
}
