package graph

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/trace"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/policy"
)

// fieldKey names a field of an object type without allocating. Owner is the
// object whose section the type is reached through ("Person", "Organization"):
// one record type may serve two record sets (UrbanCase is both a person's cases
// and an organisation's orgCases), and each set has its own sharing classes.
type fieldKey struct{ owner, object, field string }

// fieldRule says what guards one field: a department field's sharing class, or
// a Person identifier's masking.
type fieldRule struct {
	dept, set, field string
	identifier       bool
	// path is the field's name in the audit ledger, built once.
	path string
}

// Enforcer is the one boundary where field policy is enforced: a gqlgen field
// middleware whose table is generated at start-up from the schema and the
// department mapping files. A field the caller may not see is null with an
// error saying why (PURPOSE_REQUIRED, FORBIDDEN_FIELD), and the rest of the
// answer stands; identifiers are masked unless the purpose unmasks them. It also
// notes every Person field returned, for the audit ledger.
type Enforcer struct {
	Policy *policy.Policy
	rules  map[fieldKey]fieldRule
	// guarded are the object types that hold guarded fields: any other field
	// passes straight through, which is most fields of most answers.
	guarded map[string]bool
	// personPaths are the ledger names of Person's fields ("Person.name").
	personPaths map[string]string
}

var _ interface {
	graphql.HandlerExtension
	graphql.FieldInterceptor
} = (*Enforcer)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*Enforcer) ExtensionName() string { return "Policy" }

// Validate builds the field table from the schema: for each department section
// of Person (and Organization.urbanCases), every field of every record set type.
func (e *Enforcer) Validate(es graphql.ExecutableSchema) error {
	e.rules = map[fieldKey]fieldRule{
		{"Person", "Person", "idNumber"}: {field: "idNumber", identifier: true, path: "Person.idNumber:masked"},
		{"Person", "Person", "phone"}:    {field: "phone", identifier: true, path: "Person.phone:masked"},
	}
	e.guarded = map[string]bool{"Person": true}
	e.personPaths = map[string]string{}
	schema := es.Schema()
	for _, f := range schema.Types["Person"].Fields {
		e.personPaths[f.Name] = "Person." + f.Name
	}
	sections := map[string]map[string]string{
		"Person":       personSections,
		"Organization": {"urbanCases": "urban_management"},
	}
	for object, fields := range sections {
		for field, dept := range fields {
			def := schema.Types[object].Fields.ForName(field)
			if def == nil {
				return fmt.Errorf("policy: schema has no %s.%s", object, field)
			}
			section := schema.Types[def.Type.Name()]
			for _, setField := range section.Fields {
				if setField.Name == "source" {
					continue
				}
				set := setField.Name
				if object == "Organization" && set == "cases" {
					set = "orgCases" // the organisation side of the same case type
				}
				recordType := schema.Types[setField.Type.Name()]
				for _, f := range recordType.Fields {
					if recordType.Name == "UrbanCase" && f.Name == "grid" {
						continue // located by the hub, not a department field
					}
					if e.Policy.Class(dept, set, f.Name) == "" {
						return fmt.Errorf("policy: %s.%s (%s.%s.%s) has no sharing class in the mapping files", recordType.Name, f.Name, dept, set, f.Name)
					}
					e.rules[fieldKey{object, recordType.Name, f.Name}] = fieldRule{
						dept: dept, set: set, field: f.Name, path: dept + "." + set + "." + f.Name}
					e.guarded[recordType.Name] = true
				}
			}
		}
	}
	return nil
}

// InterceptField decides each guarded field before it is resolved.
func (e *Enforcer) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !e.guarded[fc.Object] {
		return next(ctx)
	}
	if fc.Object == "Person" {
		noteField(ctx, e.personPaths[fc.Field.Name])
	}
	rule, guarded := e.rules[fieldKey{owner(fc), fc.Object, fc.Field.Name}]
	if !guarded {
		return next(ctx)
	}
	pr, _ := auth.FromContext(ctx)
	pu := PurposeFrom(ctx)
	var d policy.Decision
	if rule.identifier {
		d = e.Policy.Identifier(pr, pu, rule.field)
	} else {
		d = e.Policy.DepartmentField(pr, pu, rule.dept, rule.set, rule.field)
		noteField(ctx, rule.path)
	}
	if !d.Allow {
		graphql.AddError(ctx, &apperr.Error{Code: d.Code, Message: d.Why, Department: rule.dept})
		return nil, nil
	}
	res, err := next(ctx)
	if err != nil || !d.Mask {
		return res, err
	}
	noteField(ctx, rule.path)
	return maskValue(rule.field, res), nil
}

// owner is the Person or Organization a field is reached through (the nearest
// one above it), or "" for fields outside both.
func owner(fc *graphql.FieldContext) string {
	for c := fc; c != nil; c = c.Parent {
		if c.Object == "Person" || c.Object == "Organization" {
			return c.Object
		}
	}
	return ""
}

func maskValue(field string, v any) any {
	m := ident.MaskPhone
	if field == "idNumber" {
		m = ident.MaskResidentID
	}
	switch s := v.(type) {
	case string:
		return m(s)
	case *string:
		if s == nil {
			return s
		}
		out := m(*s)
		return &out
	}
	return nil // an identifier of an unexpected type is withheld, never shown
}

// readLog is what one operation read: the persons and the fields returned.
type readLog struct {
	mu      sync.Mutex
	persons map[string]struct{}
	fields  map[string]struct{}
}

type readLogKey struct{}

func noteField(ctx context.Context, path string) {
	if l, ok := ctx.Value(readLogKey{}).(*readLog); ok {
		l.mu.Lock()
		l.fields[path] = struct{}{}
		l.mu.Unlock()
	}
}

// notePersons records persons an operation read (their surrogate ids).
func notePersons(ctx context.Context, ids ...string) {
	if l, ok := ctx.Value(readLogKey{}).(*readLog); ok {
		l.mu.Lock()
		for _, id := range ids {
			l.persons[id] = struct{}{}
		}
		l.mu.Unlock()
	}
}

// Auditing is the extension that gives each operation a read log (filled by
// the Enforcer and the resolvers that load persons) and turns it into one ledger
// entry when the operation read any person. The entry is appended before the
// answer leaves; if it cannot be, the answer is withheld: an unrecorded read
// must not happen.
type Auditing struct {
	Ledger *audit.Ledger
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*Auditing)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*Auditing) ExtensionName() string { return "Auditing" }

// Validate implements graphql.HandlerExtension.
func (*Auditing) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse appends the entry once the answer is computed.
func (a *Auditing) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	log := &readLog{persons: map[string]struct{}{}, fields: map[string]struct{}{}}
	resp := next(context.WithValue(ctx, readLogKey{}, log))
	if resp == nil || len(log.persons) == 0 {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	e := audit.Entry{
		Action:        audit.ActionRead,
		Persons:       sortedKeys(log.persons),
		Fields:        sortedKeys(log.fields),
		OperationHash: audit.OperationHash(oc.RawQuery, oc.OperationName),
		TraceID:       traceID(ctx),
	}
	if pr, ok := auth.FromContext(ctx); ok {
		e.Actor, e.Department = pr.Subject, pr.Department
		for _, r := range pr.Roles {
			e.Roles = append(e.Roles, string(r))
		}
	}
	if pu := PurposeFrom(ctx); pu != nil {
		e.Purpose = pu.Code
	}
	if _, err := a.Ledger.Append(ctx, e); err != nil {
		graphql.AddError(ctx, fmt.Errorf("audit ledger: %w", err))
		return &graphql.Response{Errors: graphql.GetErrors(ctx)}
	}
	return resp
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type purposeKey struct{}

// WithPurpose stores the request's stated purpose.
func WithPurpose(ctx context.Context, p *policy.Purpose) context.Context {
	return context.WithValue(ctx, purposeKey{}, p)
}

// PurposeFrom returns the request's stated purpose, or nil.
func PurposeFrom(ctx context.Context) *policy.Purpose {
	p, _ := ctx.Value(purposeKey{}).(*policy.Purpose)
	return p
}

// traceID is the current span's trace id, "" outside a trace.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		return sc.TraceID().String()
	}
	return ""
}
