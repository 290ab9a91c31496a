// Package graph holds the GraphQL resolvers: thin functions that check arguments
// and call one service each. The executable schema is generated into
// graph/generated, the models into graph/model, and the typed department
// sections (from the built-in mapping files) into graph/generated/departments
// by tools/gengraph, which also runs gqlgen.
package graph

//go:generate go run ../tools/gengraph

import (
	"context"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/live"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/report"
)

// Resolver is the root resolver: the services every request shares.
type Resolver struct {
	Registry *grid.Registry
	Master   *people.Service // the master index
	// Config is the configuration in force (departments, policy,
	// catalogues); a reload swaps it.
	Config *config.Live
	// Federation reaches the departments; nil runs the hub without them.
	Federation *federation.Federation
	// Reports is the unified report (一表通).
	Reports *report.Service
	// Figures serves the BI indicator tables; Freshness tells each department's sync.
	Figures   *indicators.Service
	Freshness func(ctx context.Context) ([]factsync.Freshness, error)
	// Ledger is the access ledger auditors query; nil when the hub keeps none.
	Ledger *audit.Ledger
	// Linker is record linkage's review queue; nil when the hub links nothing.
	Linker *linkage.Linker
	// FindingStore reads the stored findings (nil: the hub lists none).
	FindingStore *findings.Reader
	Version      string
	// Work is the grid's daily work: patrols, the diary, events, 考核; nil
	// serves none.
	Work *gridwork.Service
	// Live tells the subscriptions what changed on any replica; nil serves
	// none.
	Live *live.Hub
	// AfterSnapshot, when set, runs after an admin took a snapshot of the
	// indicators (the hub refreshes the bi schema's series).
	AfterSnapshot func(ctx context.Context)
}
