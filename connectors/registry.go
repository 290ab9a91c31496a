package connectors

import (
	"fmt"
	"slices"
	"sync"
)

// Factory opens a connector of one kind for a department's mapping.
type Factory func(dept *Department) (Connector, error)

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Factory{}
)

// Register makes a connector kind available by name. Kind packages call it from
// init; it panics on an empty name, a nil factory or a duplicate, as
// database/sql.Register does, since each is a programming error.
func Register(kind string, f Factory) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if kind == "" {
		panic("connectors: Register with an empty kind")
	}
	if f == nil {
		panic("connectors: Register of kind " + kind + " with a nil factory")
	}
	if _, dup := kinds[kind]; dup {
		panic("connectors: Register called twice for kind " + kind)
	}
	kinds[kind] = f
}

// Kinds lists the registered kinds, sorted.
func Kinds() []string {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	out := make([]string, 0, len(kinds))
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Open opens the connector for a department with its kind's factory.
func Open(dept *Department) (Connector, error) {
	kindsMu.RLock()
	f, ok := kinds[dept.Kind]
	kindsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("department %s: unknown connector kind %q (registered: %v)", dept.Code, dept.Kind, Kinds())
	}
	c, err := f(dept)
	if err != nil {
		return nil, fmt.Errorf("department %s: open %s connector: %w", dept.Code, dept.Kind, err)
	}
	return c, nil
}
