// Package envvars is the one list of the environment variables the gridhub
// binary reads: its own (GRIDHUB_*), the OpenTelemetry ones it honours, and the
// few of the Go runtime and the system that matter to an operator.
//
// The list is what deploy/ (the compose file and the Kubernetes manifests) is
// checked against, and what the README's configuration table must cover. A
// test (envvars_test.go) reads the source of every package linked into the
// binary and fails when the code reads a variable this list does not name, or
// when the list names one nothing reads: the list cannot drift from the code.
package envvars

import (
	"slices"
	"strings"
)

// Scope says who sets a variable.
type Scope string

// The scopes of a variable.
const (
	// Serve: the hub's configuration, set where `gridhub serve` runs (and
	// read by the operator commands that act on the same database).
	Serve Scope = "serve"
	// Dev: read by `gridhub dev`, `gridhub token` or the dev tooling only.
	Dev Scope = "dev"
	// Test: read by the test helpers compiled into the binary's packages.
	Test Scope = "test"
)

// Var is one environment variable (or family of variables) the binary reads.
type Var struct {
	// Name is the variable's name, or, when Prefix is true, the prefix every
	// variable of the family starts with (GRIDHUB_DEPT_).
	Name   string
	Prefix bool
	Scope  Scope
	// Required: `gridhub serve` refuses to start without it.
	Required bool
	// Secret: it holds a credential; manifests take it from a Secret.
	Secret bool
	// Library: read by a library or the Go runtime, not by gridhub's own
	// code, so the source scan cannot find it.
	Library bool
	// Doc says what it does, for people.
	Doc string
}

// All is every variable the binary reads.
var All = []Var{
	{Name: "GRIDHUB_ADDR", Scope: Serve, Doc: "listen address of serve (default :8080)"},
	{Name: "GRIDHUB_DATABASE_URL", Scope: Serve, Required: true, Secret: true,
		Doc: "Postgres URL; serve connects as a member of gridhub_app, migrate as the owner of the tables"},
	{Name: "GRIDHUB_SECRET_KEY", Scope: Serve, Required: true, Secret: true,
		Doc: "base64 of the 32-byte master key: ID blinding and sealing, the audit chain and checkpoint keys"},
	{Name: "GRIDHUB_DATABASE_REPLICA_URL", Scope: Serve, Secret: true,
		Doc: "a streaming replica, optional: master-index reads go there while it is within the lag limit"},
	{Name: "GRIDHUB_DATABASE_REPLICA_MAX_LAG", Scope: Serve, Doc: "how far behind the replica may be before reads go to the primary (default 5s)"},
	{Name: "GRIDHUB_SHUTDOWN_DELAY", Scope: Serve, Doc: "how long a stopping hub serves with /readyz at 503 before it stops taking connections (default 5s)"},
	{Name: "GRIDHUB_REDIS_URL", Scope: Serve, Secret: true, Doc: "Redis URL, optional: cache, persisted queries and rate limits shared across replicas"},
	{Name: "GRIDHUB_CONFIG", Scope: Serve, Doc: "the configuration directory (departments, policy, catalogues, templates); unset: the built-in one"},
	{Name: "GRIDHUB_JWKS_FILE", Scope: Serve, Doc: "public keys that sign bearer tokens (one of the JWKS variables is required outside dev)"},
	{Name: "GRIDHUB_JWKS_URL", Scope: Serve, Doc: "the same keys, fetched and refreshed"},
	{Name: "GRIDHUB_JWT_ISSUER", Scope: Serve, Doc: "bearer tokens' iss, checked when set"},
	{Name: "GRIDHUB_JWT_AUDIENCE", Scope: Serve, Doc: "bearer tokens' aud, checked when set"},
	{Name: "GRIDHUB_OIDC_ISSUER", Scope: Serve, Doc: "the city's OpenID Connect provider: staff pages sign in through it (with it, JWKS variables are optional)"},
	{Name: "GRIDHUB_OIDC_CLIENT_ID", Scope: Serve, Doc: "the hub's client registration at the provider"},
	{Name: "GRIDHUB_OIDC_CLIENT_SECRET", Scope: Serve, Secret: true, Doc: "the client's secret (optional for a public client)"},
	{Name: "GRIDHUB_OIDC_REDIRECT_URL", Scope: Serve, Doc: "the hub's /auth/callback address as registered at the provider"},
	{Name: "GRIDHUB_OIDC_SCOPES", Scope: Serve, Doc: "scopes asked for besides openid (default profile)"},
	{Name: "GRIDHUB_OIDC_SESSION_TTL", Scope: Serve, Doc: "how long a sign-in lasts (default 8h)"},
	{Name: "GRIDHUB_SESSION_TOKEN_TTL", Scope: Serve, Doc: "the life of each hub token the pages are given (default 10m, at most 1h)"},
	{Name: "GRIDHUB_TRUSTED_DOCUMENTS", Scope: Serve, Doc: "a persisted-query manifest: only its operations run"},
	{Name: "GRIDHUB_RATE_LIMIT", Scope: Serve, Doc: "requests per second per caller (default 50)"},
	{Name: "GRIDHUB_SYNC_INTERVAL", Scope: Serve, Doc: "how often the departments' fact feeds are pulled (default 5m)"},
	{Name: "GRIDHUB_SYNC_PARALLEL", Scope: Serve, Doc: "how many departments a round of fact syncs reads at once, the largest first (default 2)"},
	{Name: "GRIDHUB_PPROF_ADDR", Scope: Serve, Doc: "serve net/http/pprof on this loopback address"},
	{Name: "GRIDHUB_AUDIT_CHECKPOINTS", Scope: Serve, Doc: "directory the access ledger's signed checkpoints are written to"},
	{Name: "GRIDHUB_AUDIT_CHECKPOINT_INTERVAL", Scope: Serve, Doc: "how often a checkpoint is written when the ledger's head moved (default 1m)"},
	{Name: "GRIDHUB_SNAPSHOT_PERIOD", Scope: Serve, Doc: "the period of the indicator snapshots the sync leader takes for the trends: month (default), week, day or off"},
	{Name: "GRIDHUB_DELIVERY_JOB_TIMEOUT", Scope: Serve, Doc: "a report delivery's time limit (default 1m)"},
	{Name: "GRIDHUB_DELIVERY_RESCUE_AFTER", Scope: Serve, Doc: "when another replica takes up a delivery a killed hub left running (default 2m)"},
	{Name: "GRIDHUB_ENV", Scope: Serve, Doc: `"production": gridhub token refuses to mint dev tokens`},
	{Name: "GRIDHUB_DEPT_", Prefix: true, Scope: Serve,
		Doc: "where each department is (DSNs, URLs, API keys, ledger paths): the ${...} references of the mapping files; those holding credentials come from a Secret"},
	{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Scope: Serve, Doc: "export traces over OTLP/HTTP to this collector"},
	{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", Scope: Serve, Doc: "the same, for traces alone"},
	{Name: "OTEL_EXPORTER_OTLP_", Prefix: true, Scope: Serve, Library: true,
		Doc: "the OTLP exporter's other settings (headers, timeout, compression, certificates)"},
	{Name: "OTEL_RESOURCE_ATTRIBUTES", Scope: Serve, Library: true, Doc: "attributes added to every span's resource (service.instance.id=...; service.name stays gridhub)"},
	{Name: "GOGC", Scope: Serve, Doc: "the collector's target; unset, gridhub uses 400"},
	{Name: "GOMEMLIMIT", Scope: Serve, Library: true, Doc: "the Go runtime's soft memory limit (set it a little under the container's)"},
	{Name: "PATH", Scope: Dev, Doc: "where gridhub dev looks for the PostgreSQL server binaries first"},
	{Name: "GRIDHUB_TEST_POSTGRES_URL", Scope: Test, Doc: "tests: a PostgreSQL server to make their databases on instead of starting one"},
	{Name: "CI", Scope: Test, Doc: `tests: "true" fails a test that would skip for a missing Redis or browser`},
}

// Lookup finds the entry that covers name: the one of that name, or the
// family whose prefix it starts with.
func Lookup(name string) (Var, bool) {
	for _, v := range All {
		if v.Name == name && !v.Prefix {
			return v, true
		}
	}
	for _, v := range All {
		if v.Prefix && strings.HasPrefix(name, v.Name) && len(name) > len(v.Name) {
			return v, true
		}
	}
	return Var{}, false
}

// Required lists the variables serve cannot start without.
func Required() []string {
	var names []string
	for _, v := range All {
		if v.Required {
			names = append(names, v.Name)
		}
	}
	return names
}

// InScope lists the exact (not prefix) names of a scope.
func InScope(s Scope) []string {
	var names []string
	for _, v := range All {
		if v.Scope == s && !v.Prefix {
			names = append(names, v.Name)
		}
	}
	slices.Sort(names)
	return names
}
