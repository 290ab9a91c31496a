package model

import (
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
)

// GridConnection is a page of grid units; TotalCount is known when the page is cut.
type GridConnection struct {
	Edges      []*GridEdge
	Nodes      []*grid.Unit
	PageInfo   *PageInfo
	TotalCount int
}

// GridEdge is one grid unit with its cursor.
type GridEdge struct {
	Cursor string
	Node   *grid.Unit
}

// PersonConnection is a page of residents. Its total is counted only when asked
// for, over Prefixes (the query's within, cut to the caller's scope).
type PersonConnection struct {
	Edges    []*PersonEdge
	Nodes    []*people.Person
	PageInfo *PageInfo
	Prefixes []string
}

// PersonEdge is one resident with its cursor.
type PersonEdge struct {
	Cursor string
	Node   *people.Person
}

// AuditEntryConnection is a page of the access ledger; its total is counted
// only when asked for, with Filter.
type AuditEntryConnection struct {
	Edges    []*AuditEntryEdge
	Nodes    []*audit.Entry
	PageInfo *PageInfo
	Filter   audit.Filter
}

// AuditEntryEdge is one ledger entry with its cursor.
type AuditEntryEdge struct {
	Cursor string
	Node   *audit.Entry
}
