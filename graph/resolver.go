// Package graph holds the GraphQL resolvers: thin functions that check arguments
// and call one service each. The executable schema is generated into
// graph/generated and the models into graph/model.
package graph

//go:generate go tool gqlgen generate

import (
	"context"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/report"
)

// Resolver is the root resolver: the services every request shares.
type Resolver struct {
	Registry *grid.Registry
	Master   *people.Service // the master index
	// Federation reaches the departments; nil runs the hub without them.
	Federation *federation.Federation
	// Reports is the unified report (一表通); Policy decides what drafts show.
	Reports *report.Service
	Policy  *policy.Policy
	// Figures serves the BI indicator tables; Freshness tells each department's sync.
	Figures   *indicators.Service
	Freshness func(ctx context.Context) ([]factsync.Freshness, error)
	// Ledger is the access ledger auditors query; nil when the hub keeps none.
	Ledger  *audit.Ledger
	Version string
}
