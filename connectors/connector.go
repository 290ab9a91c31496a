// Package connectors is how the hub reaches the departments: one small required
// interface every connector implements, optional ones found by type assertion, a
// registry of connector kinds in the style of database/sql, the error taxonomy
// that decides retries, and the declarative department mapping files.
//
// A department is a mapping file (departments/*.yaml), not Go code: its kind
// (sql, rest, sheet), its address, the record sets it keeps about persons and
// organisations, how each source field maps onto the unified schema, and each
// field's sharing class.
package connectors

import (
	"context"
	"time"
)

// Entities a department keeps records about, and what keys them.
const (
	// Person records are keyed by the normalised 18-character resident ID number.
	Person = "person"
	// Organization records are keyed by the unified social credit code.
	Organization = "organization"
)

// Record is one source record mapped onto the unified field names of its record
// set. Values are typed by the field's type: string, int64, float64, bool, or
// time.Time for dates (midnight UTC of the civil date). A field the source left
// empty is absent.
type Record map[string]any

// ReadRequest asks a connector for the records of a batch of entities.
type ReadRequest struct {
	Entity string   // Person or Organization
	Keys   []string // normalised keys, no duplicates
	// Sets limits the read to these record sets; nil reads every set of the entity.
	Sets []string
}

// Result holds what a read found: key -> record set name -> records. A key with
// no records is absent.
type Result map[string]map[string][]Record

// Add appends a record of set for key.
func (r Result) Add(key, set string, rec Record) {
	sets := r[key]
	if sets == nil {
		sets = map[string][]Record{}
		r[key] = sets
	}
	sets[set] = append(sets[set], rec)
}

// Description says what a connector is and what it serves.
type Description struct {
	Code string // department code, e.g. civil_affairs
	Name string // 民政
	Kind string // sql, rest, sheet
	Sets []RecordSet
}

// Connector is what every connector does: read records for a batch of keys in
// one call (one query, one request, one index lookup: never one per key), and
// describe itself.
type Connector interface {
	Describe() Description
	Read(ctx context.Context, req ReadRequest) (Result, error)
}

// HealthChecker is a connector that can tell whether its source answers,
// without reading records.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Closer is a connector holding resources (pools, file watchers).
type Closer interface {
	Close() error
}

// Delivery is a unified-report submission's fields for one department.
type Delivery struct {
	// IdempotencyKey identifies the delivery: a retry carries the same key, and
	// the department must apply it at most once.
	IdempotencyKey string
	Entity         string
	Key            string
	// Fields are unified field names ("set.field") with their new values.
	Fields      map[string]any
	SubmittedAt time.Time
}

// Writer is a connector that writes report fields back to its department.
type Writer interface {
	Write(ctx context.Context, d Delivery) error
}

// Fact is one record from a department's fact feed.
type Fact struct {
	Entity string
	Key    string
	Set    string
	// ID identifies the record within its set and key, stable across changes
	// to the record: the key itself for a set of one record per key, the
	// source's row id (case number, ...) for a Many set. A consumer upserts
	// facts by (department, set, key, ID).
	ID     string
	Record Record
	// Deleted marks a record the department removed since the watermark.
	Deleted bool
	// Identity is who the record says it is about besides its key (name,
	// sex, birthDate, address, phone; RecordSet.Identity), nil when the
	// record set maps none.
	Identity Record
	// KeyInvalid marks a person fact whose ID number is missing or does not
	// validate: Key then holds it as written (trimmed, upper-cased; "" when
	// missing) and record linkage places the fact from its Identity.
	KeyInvalid bool
}

// FactPage is one page of a fact feed.
type FactPage struct {
	Facts []Fact
	// Watermark is where the next call continues from.
	Watermark string
	// More says whether another page follows at once.
	More bool
}

// FactFeed is a connector whose department can list records changed since a
// watermark ("" = from the beginning), for the hub's synced aggregates.
type FactFeed interface {
	Facts(ctx context.Context, since string, limit int) (FactPage, error)
}

// FactSkipCounter is a fact feed that counts the records it left out because
// their key did not normalise or a field did not convert: a feed never fails
// on bad data, so this count is how it shows.
type FactSkipCounter interface {
	FactsSkipped() int64
}
