// Package graph holds the GraphQL resolvers: thin functions that check arguments
// and call one service each. The executable schema is generated into
// graph/generated and the models into graph/model.
package graph

//go:generate go tool gqlgen generate

import (
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
)

// Resolver is the root resolver: the services every request shares.
type Resolver struct {
	Registry *grid.Registry
	Master   *people.Service // the master index
	// Federation reaches the departments; nil runs the hub without them.
	Federation *federation.Federation
	// Ledger is the access ledger auditors query; nil when the hub keeps none.
	Ledger  *audit.Ledger
	Version string
}
