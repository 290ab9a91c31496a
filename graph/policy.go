package graph

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/trace"

	"github.com/gridhub/gridhub/graph/records"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
)

// Operations is the extension that gives each operation its policy and read
// log (records.Operation): the caller, the stated purpose and the policy in
// force, decided once for the whole operation. Field policy is applied where
// department records become answers (package records) and where persons are
// returned (their identifiers' masking); nothing intercepts field by field.
//
// With a Ledger, an operation that read any person appends one entry to it
// before the answer leaves; if the entry cannot be appended, the answer is
// withheld: an unrecorded read must not happen.
type Operations struct {
	// Policy is the policy in force when the request carries none.
	Policy func() *policy.Policy
	Ledger *audit.Ledger
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*Operations)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*Operations) ExtensionName() string { return "Operations" }

// Validate implements graphql.HandlerExtension.
func (*Operations) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse runs the operation with its records.Operation and, when
// it read persons, records it in the ledger.
func (o *Operations) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	pol := PolicyFrom(ctx)
	if pol == nil {
		pol = o.Policy()
	}
	pr, _ := auth.FromContext(ctx)
	op := records.NewOperation(pol, pr, PurposeFrom(ctx))
	resp := next(records.With(ctx, op))
	if ctx.Err() != nil {
		ClientsGone.Inc()
	}
	if resp == nil || o.Ledger == nil {
		return resp
	}
	persons, fields := op.Read()
	if len(persons) == 0 {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	e := audit.Entry{
		Action:        audit.ActionRead,
		Persons:       persons,
		Fields:        mergeSorted(fields, personFields(oc, op.Masking)),
		OperationHash: audit.OperationHash(oc.RawQuery, oc.OperationName),
		TraceID:       traceID(ctx),
	}
	if pr != nil {
		e.Actor, e.Department = pr.Subject, pr.Department
		for _, r := range pr.Roles {
			e.Roles = append(e.Roles, string(r))
		}
	}
	if pu := PurposeFrom(ctx); pu != nil {
		e.Purpose = pu.Code
	}
	// The departments were read whether or not the client is still there:
	// the entry is written on a context the client's hanging up does not
	// end, within a bound of its own.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	if _, err := o.Ledger.Append(actx, e); err != nil {
		graphql.AddError(ctx, fmt.Errorf("audit ledger: %w", err))
		return &graphql.Response{Errors: graphql.GetErrors(ctx)}
	}
	return resp
}

// appendTimeout bounds the wait for a ledger entry's commit.
const appendTimeout = 30 * time.Second

// personFields are the ledger names of the Person fields the operation
// selects anywhere (fragments included): an identifier shown masked is
// noted as such ("Person.idNumber:masked").
func personFields(oc *graphql.OperationContext, m *people.Masking) []string {
	seen := map[string]bool{}
	var walk func(ast.SelectionSet, map[string]bool)
	walk = func(set ast.SelectionSet, active map[string]bool) {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if s.ObjectDefinition != nil && s.ObjectDefinition.Name == "Person" && s.Name != "__typename" {
					name := "Person." + s.Name
					if s.Name == "idNumber" && m.IDNumber != "" || s.Name == "phone" && m.Phone != "" {
						name += ":masked"
					}
					seen[name] = true
				}
				walk(s.SelectionSet, active)
			case *ast.InlineFragment:
				walk(s.SelectionSet, active)
			case *ast.FragmentSpread:
				if s.Definition == nil || active[s.Name] {
					continue
				}
				active[s.Name] = true
				walk(s.Definition.SelectionSet, active)
				delete(active, s.Name)
			}
		}
	}
	if oc.Operation != nil {
		walk(oc.Operation.SelectionSet, map[string]bool{})
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// mergeSorted merges two sorted lists without duplicates.
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// operation is the request's records.Operation; outside the extension (a
// test driving the executor directly) a fresh one under the policy in force.
func (r *Resolver) operation(ctx context.Context) *records.Operation {
	if op := records.From(ctx); op != nil {
		return op
	}
	pr, _ := auth.FromContext(ctx)
	return records.NewOperation(r.policy(ctx), pr, PurposeFrom(ctx))
}

// policy is the policy of the request, or the one in force.
func (r *Resolver) policy(ctx context.Context) *policy.Policy {
	if p := PolicyFrom(ctx); p != nil {
		return p
	}
	return r.Config.Get().Policy
}

type purposeKey struct{}

type policyKey struct{}

// WithPurpose stores the request's policy and stated purpose.
func WithPurpose(ctx context.Context, pol *policy.Policy, p *policy.Purpose) context.Context {
	return context.WithValue(context.WithValue(ctx, policyKey{}, pol), purposeKey{}, p)
}

// PurposeFrom returns the request's stated purpose, or nil.
func PurposeFrom(ctx context.Context) *policy.Purpose {
	p, _ := ctx.Value(purposeKey{}).(*policy.Purpose)
	return p
}

// PolicyFrom returns the policy the request was admitted under, or nil.
func PolicyFrom(ctx context.Context) *policy.Policy {
	p, _ := ctx.Value(policyKey{}).(*policy.Policy)
	return p
}

// traceID is the current span's trace id, "" outside a trace.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
