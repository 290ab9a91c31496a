package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/generated/departments"
	"github.com/gridhub/gridhub/graph/records"
	"github.com/gridhub/gridhub/internal/gqljson"
	"github.com/gridhub/gridhub/internal/people"
)

// Plans is the extension that answers the hub's hottest queries without
// gqlgen's executor: queries whose root fields are people, person and
// __typename, selecting of persons their own fields, their grid and
// household's plain fields and the typed department sections (and of
// connections their nodes, edges, page info and count). For such an
// operation it compiles, once, a plan from the validated document: the
// fields as graphql.CollectFields collects them (aliases, fragments,
// @skip/@include, __typename), each with its response key. A request then
// runs the same resolvers' work (scope, the master index, present, the
// section loaders) and writes the JSON answer straight from the rows and
// records, under the same masking and field policy, noting the same
// persons and fields for the ledger entry the Operations extension writes.
//
// A plan answers only what it can answer without an error. Whenever the
// answer would carry one (bad input, a withheld field asked of a record, a
// department unavailable, a null where the schema promises a value) it
// leaves the operation to the executor, which reports it: what the plan
// had read then serves the executor from the request's loaders, and what it
// had noted is what the executor notes too. Anything else (other root
// fields, a household's members, records, mutations, @defer) runs on the
// executor as before. TestPlansAnswerAsTheExecutor holds the two to the
// same bytes.
//
// It must run inside Operations (registered after it), so that the
// operation's policy and read log are in the context.
type Plans struct {
	Resolver *Resolver
	plans    *lru.Cache[*ast.OperationDefinition, *plan]
	served   *prometheus.CounterVec
}

// NewPlans keeps the plans of the last n operations.
func NewPlans(r *Resolver, n int) *Plans {
	c, _ := lru.New[*ast.OperationDefinition, *plan](n)
	return &Plans{Resolver: r, plans: c, served: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gridhub_graphql_planned_total",
		Help: "Operations by who answered them: a compiled plan (by=plan), or gqlgen's executor because no plan fits the operation (by=executor) or the plan's answer would carry an error (by=fallback).",
	}, []string{"by"})}
}

// Collector is the extension's metric, for the server's registry.
func (p *Plans) Collector() prometheus.Collector { return p.served }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*Plans)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*Plans) ExtensionName() string { return "Plans" }

// Validate implements graphql.HandlerExtension.
func (*Plans) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse answers the operation from its plan when it has one.
func (p *Plans) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	pl := p.planFor(oc)
	if pl == nil {
		p.served.WithLabelValues("executor").Inc()
		return next(ctx)
	}
	data, ok := p.run(ctx, oc, pl)
	if !ok {
		p.served.WithLabelValues("fallback").Inc()
		return next(ctx)
	}
	p.served.WithLabelValues("plan").Inc()
	return &graphql.Response{Data: data}
}

// plan is a compiled operation: its root fields in response order.
type plan struct {
	roots []pnode
	// size is the length of the last answer, to size the next one's buffer.
	size atomic.Int64
}

// pnode is one field of a plan: its response key, what it is, its
// arguments and selections (field), and the fields it selects in turn.
type pnode struct {
	key   []byte
	kind  pkind
	field graphql.CollectedField
	sub   []pnode
	// needs is, on people and person, what the persons' selection needs.
	needs personNeeds
	// section is a typed section's descriptor and compiled selection.
	section *records.Typed
	typed   *records.TypedPlan
}

type pkind uint8

const (
	kTypename pkind = iota
	kPeople
	kPerson
	kNodes
	kEdges
	kPageInfo
	kTotalCount
	kCursor
	kNode
	kHasNextPage
	kEndCursor
	kID
	kIDNumber
	kName
	kGender
	kBirthDate
	kEthnicity
	kPhone
	kRelation
	kGrid
	kHousehold
	kSection
	kCode
	kAddress
	kHouseholds
	kResidents
)

// planFor is the operation's plan, or nil when it has none. Plans are kept
// per operation of a parsed document (gqlgen keeps the documents); one whose
// @skip or @include take a variable is compiled for each request.
func (p *Plans) planFor(oc *graphql.OperationContext) *plan {
	op := oc.Operation
	if op == nil || op.Operation != ast.Query {
		return nil
	}
	if pl, ok := p.plans.Get(op); ok {
		return pl
	}
	defers, byVariable := directivesOf(op.SelectionSet, map[string]bool{})
	if defers {
		p.plans.Add(op, nil)
		return nil
	}
	pl := compile(oc)
	if !byVariable {
		// The plan holds the operation as its key, so the key's address
		// cannot be reused by another document while it is kept.
		p.plans.Add(op, pl)
	}
	return pl
}

// directivesOf walks a selection set and the fragments it spreads: defers
// is whether any asks for @defer, byVariable whether any directive takes a
// variable (what is selected then depends on the request).
func directivesOf(set ast.SelectionSet, seen map[string]bool) (defers, byVariable bool) {
	note := func(ds ast.DirectiveList) {
		for _, d := range ds {
			if d.Name == "defer" {
				defers = true
			}
			for _, a := range d.Arguments {
				if a.Value != nil && a.Value.Kind == ast.Variable {
					byVariable = true
				}
			}
		}
	}
	for _, sel := range set {
		var d, v bool
		switch s := sel.(type) {
		case *ast.Field:
			note(s.Directives)
			d, v = directivesOf(s.SelectionSet, seen)
		case *ast.InlineFragment:
			note(s.Directives)
			d, v = directivesOf(s.SelectionSet, seen)
		case *ast.FragmentSpread:
			note(s.Directives)
			if s.Definition != nil && !seen[s.Name] {
				seen[s.Name] = true
				note(s.Definition.Directives)
				d, v = directivesOf(s.Definition.SelectionSet, seen)
			}
		}
		defers, byVariable = defers || d, byVariable || v
	}
	return defers, byVariable
}

// compile builds the plan of oc's operation, or nil when a field falls
// outside what plans answer.
func compile(oc *graphql.OperationContext) *plan {
	pl := &plan{}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Query"}) {
		n := pnode{key: gqljson.Key(f.Alias), field: f}
		ok := true
		switch f.Name {
		case "__typename":
			n.kind = kTypename
		case "people":
			n.kind = kPeople
			n.sub, n.needs, ok = compileConnection(oc, f.Selections)
		case "person":
			n.kind = kPerson
			n.needs = personNeeds{depts: map[string]bool{}}
			n.sub, ok = compilePerson(oc, f.Selections, &n.needs)
		default:
			ok = false
		}
		if !ok {
			return nil
		}
		pl.roots = append(pl.roots, n)
	}
	return pl
}

// compileFields collects a selection set on typ and gives each field its
// kind from fields (by name); ok is false for a field not listed.
func compileFields(oc *graphql.OperationContext, set ast.SelectionSet, typ string, fields map[string]pkind) ([]pnode, bool) {
	var out []pnode
	for _, f := range graphql.CollectFields(oc, set, []string{typ}) {
		if len(f.Deferrables) > 0 {
			return nil, false
		}
		k, ok := fields[f.Name]
		if !ok {
			return nil, false
		}
		out = append(out, pnode{key: gqljson.Key(f.Alias), kind: k, field: f})
	}
	return out, true
}

var (
	connectionFields = map[string]pkind{"__typename": kTypename, "nodes": kNodes, "edges": kEdges, "pageInfo": kPageInfo, "totalCount": kTotalCount}
	edgeFields       = map[string]pkind{"__typename": kTypename, "cursor": kCursor, "node": kNode}
	pageInfoFields   = map[string]pkind{"__typename": kTypename, "hasNextPage": kHasNextPage, "endCursor": kEndCursor}
	personFieldKinds = map[string]pkind{"__typename": kTypename, "id": kID, "idNumber": kIDNumber, "name": kName, "gender": kGender,
		"birthDate": kBirthDate, "ethnicity": kEthnicity, "phone": kPhone, "relation": kRelation, "grid": kGrid, "household": kHousehold}
	gridFields      = map[string]pkind{"__typename": kTypename, "code": kCode, "name": kName, "households": kHouseholds, "residents": kResidents}
	householdFields = map[string]pkind{"__typename": kTypename, "id": kID, "address": kAddress}
)

// personSectionTypes are the typed sections of Person by field.
var personSectionTypes = func() map[string]*records.Typed {
	m := map[string]*records.Typed{}
	for _, t := range departments.Sections {
		if t.Object == "Person" {
			m[t.Field] = t
		}
	}
	return m
}()

// compileConnection compiles a PersonConnection's selection.
func compileConnection(oc *graphql.OperationContext, set ast.SelectionSet) ([]pnode, personNeeds, bool) {
	needs := personNeeds{depts: map[string]bool{}}
	sub, ok := compileFields(oc, set, "PersonConnection", connectionFields)
	if !ok {
		return nil, needs, false
	}
	for i := range sub {
		n := &sub[i]
		switch n.kind {
		case kNodes:
			n.sub, ok = compilePerson(oc, n.field.Selections, &needs)
		case kEdges:
			if n.sub, ok = compileFields(oc, n.field.Selections, "PersonEdge", edgeFields); ok {
				for j := range n.sub {
					if e := &n.sub[j]; e.kind == kNode && ok {
						e.sub, ok = compilePerson(oc, e.field.Selections, &needs)
					}
				}
			}
		case kPageInfo:
			n.sub, ok = compileFields(oc, n.field.Selections, "PageInfo", pageInfoFields)
		}
		if !ok {
			return nil, needs, false
		}
	}
	return sub, needs, true
}

// compilePerson compiles a Person's selection, adding to needs what it
// needs beyond the persons' own columns.
func compilePerson(oc *graphql.OperationContext, set ast.SelectionSet, needs *personNeeds) ([]pnode, bool) {
	var out []pnode
	for _, f := range graphql.CollectFields(oc, set, []string{"Person"}) {
		if len(f.Deferrables) > 0 {
			return nil, false
		}
		n := pnode{key: gqljson.Key(f.Alias), field: f}
		ok := true
		if t, isSection := personSectionTypes[f.Name]; isSection {
			n.kind, n.section = kSection, t
			n.typed, ok = records.CompileTyped(oc, f, t)
			needs.depts[t.Department] = true
		} else if n.kind, ok = personFieldKinds[f.Name]; ok {
			switch n.kind {
			case kIDNumber, kPhone:
				needs.identifiers = true
			case kEthnicity, kRelation:
				needs.details = true
			case kGrid:
				n.sub, ok = compileFields(oc, f.Selections, "Grid", gridFields)
			case kHousehold:
				needs.household = true
				n.sub, ok = compileFields(oc, f.Selections, "Household", householdFields)
			}
		}
		if !ok {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

// object writes a JSON object of sel's fields in order, each value by
// value; ok is false as soon as one is.
func object(b []byte, sel []pnode, value func(b []byte, n *pnode) ([]byte, bool)) (_ []byte, ok bool) {
	b = append(b, '{')
	for i := range sel {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, sel[i].key...)
		if b, ok = value(b, &sel[i]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// list writes a JSON array of n elements, each by elem.
func list(b []byte, n int, elem func(b []byte, i int) ([]byte, bool)) (_ []byte, ok bool) {
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		if b, ok = elem(b, i); !ok {
			return b, false
		}
	}
	return append(b, ']'), true
}

// run answers the operation from its plan; ok is false when the executor
// must answer it instead.
func (p *Plans) run(ctx context.Context, oc *graphql.OperationContext, pl *plan) ([]byte, bool) {
	b := make([]byte, 0, max(pl.size.Load()+pl.size.Load()/8, 256))
	b, ok := object(b, pl.roots, func(b []byte, n *pnode) ([]byte, bool) {
		switch n.kind {
		case kPeople:
			return p.people(ctx, oc, n, b)
		case kPerson:
			return p.person(ctx, oc, n, b)
		}
		return gqljson.String(b, "Query"), true
	})
	if !ok {
		return nil, false
	}
	pl.size.Store(int64(len(b)))
	return b, true
}

// person answers Query.person as queryResolver.Person does.
func (p *Plans) person(ctx context.Context, oc *graphql.OperationContext, n *pnode, b []byte) ([]byte, bool) {
	pr, err := rowReader(ctx)
	if err != nil {
		return b, false
	}
	idNumber, err := graphql.UnmarshalString(n.field.ArgumentMap(oc.Variables)["idNumber"])
	if err != nil {
		return b, false
	}
	r := p.Resolver
	found, err := r.Master.PersonByIDNumber(ctx, idNumber, n.needs.read())
	if err != nil {
		return b, false
	}
	found = personInScope(pr, found)
	if found == nil {
		return gqljson.Null(b), true
	}
	persons := []*people.Person{found}
	if err := r.present(ctx, persons, nil, n.needs); err != nil {
		return b, false
	}
	w, ok := p.newWriter(ctx, oc, persons, n.needs)
	if !ok {
		return b, false
	}
	return w.person(b, found, n.sub)
}

// people answers Query.people as queryResolver.People and the connection's
// resolvers do.
func (p *Plans) people(ctx context.Context, oc *graphql.OperationContext, n *pnode, b []byte) ([]byte, bool) {
	pr, err := rowReader(ctx)
	if err != nil {
		return b, false
	}
	args := n.field.ArgumentMap(oc.Variables)
	within, err := graphql.UnmarshalID(args["within"])
	if err != nil {
		return b, false
	}
	var first *int
	if v := args["first"]; v != nil {
		f, err := graphql.UnmarshalInt(v)
		if err != nil {
			return b, false
		}
		first = &f
	}
	var after *string
	if v := args["after"]; v != nil {
		a, err := graphql.UnmarshalString(v)
		if err != nil {
			return b, false
		}
		after = &a
	}
	if err := people.CheckCode("within", within); err != nil {
		return b, false
	}
	r := p.Resolver
	prefixes := scopedPrefixes(pr, within)
	page, err := r.Master.People(ctx, prefixes, first, after, n.needs.read())
	if err != nil {
		return b, false
	}
	if err := r.present(ctx, page.Persons, nil, n.needs); err != nil {
		return b, false
	}
	w, ok := p.newWriter(ctx, oc, page.Persons, n.needs)
	if !ok {
		return b, false
	}
	return object(b, n.sub, func(b []byte, c *pnode) ([]byte, bool) {
		switch c.kind {
		case kNodes:
			return list(b, len(page.Persons), func(b []byte, i int) ([]byte, bool) {
				return w.person(b, page.Persons[i], c.sub)
			})
		case kEdges:
			return list(b, len(page.Persons), func(b []byte, i int) ([]byte, bool) {
				return object(b, c.sub, func(b []byte, e *pnode) ([]byte, bool) {
					switch e.kind {
					case kCursor:
						return gqljson.String(b, page.Cursors[i]), true
					case kNode:
						return w.person(b, page.Persons[i], e.sub)
					}
					return gqljson.String(b, "PersonEdge"), true
				})
			})
		case kPageInfo:
			return object(b, c.sub, func(b []byte, e *pnode) ([]byte, bool) {
				switch {
				case e.kind == kHasNextPage:
					return gqljson.Bool(b, page.HasNextPage), true
				case e.kind == kEndCursor && len(page.Cursors) == 0:
					return gqljson.Null(b), true
				case e.kind == kEndCursor:
					return gqljson.String(b, page.Cursors[len(page.Cursors)-1]), true
				}
				return gqljson.String(b, "PageInfo"), true
			})
		case kTotalCount:
			total, err := r.Master.CountPeople(ctx, prefixes)
			if err != nil {
				return b, false
			}
			return gqljson.Int(b, int64(total)), true
		}
		return gqljson.String(b, "PersonConnection"), true
	})
}

// planWriter writes persons for one field of a plan: the operation, and
// each needed department's answers by key.
type planWriter struct {
	oc       *graphql.OperationContext
	op       *records.Operation
	sections map[string]map[string]*loaded // department -> key -> answer
}

// newWriter collects the departments' answers about persons (queued by
// present); ok is false when a needed department is not configured, which
// the executor reports.
func (p *Plans) newWriter(ctx context.Context, oc *graphql.OperationContext, persons []*people.Person, needs personNeeds) (*planWriter, bool) {
	r := p.Resolver
	w := &planWriter{oc: oc, op: r.operation(ctx)}
	if len(needs.depts) == 0 || r.Federation == nil || len(persons) == 0 {
		return w, true
	}
	keys := personKeys(persons)
	w.sections = make(map[string]map[string]*loaded, len(needs.depts))
	loaders := r.loaders(ctx)
	for code := range needs.depts {
		d, ok := r.Federation.Dept(code)
		if !ok {
			return nil, false
		}
		l := loaders.section(r.Federation, d, connectors.Person)
		if l == nil {
			continue // the department keeps nothing about persons: null
		}
		got, err := l.LoadAll(ctx, keys)
		if err != nil {
			return nil, false
		}
		byKey := make(map[string]*loaded, len(keys))
		for i, k := range keys {
			byKey[k] = got[i]
		}
		w.sections[code] = byKey
	}
	return w, true
}

// person writes one person's selection.
func (w *planWriter) person(b []byte, person *people.Person, sel []pnode) ([]byte, bool) {
	return object(b, sel, func(b []byte, n *pnode) ([]byte, bool) {
		switch n.kind {
		case kID:
			return gqljson.String(b, person.ID), true
		case kIDNumber:
			return gqljson.String(b, person.ShownIDNumber()), true
		case kName:
			return gqljson.String(b, person.Name), true
		case kGender:
			return gqljson.String(b, person.Gender), true
		case kBirthDate:
			return gqljson.Date(b, person.BirthDate), true
		case kEthnicity:
			return gqljson.String(b, person.Ethnicity), true
		case kPhone:
			if phone := person.ShownPhone(); phone != nil {
				return gqljson.String(b, *phone), true
			}
			return gqljson.Null(b), true
		case kRelation:
			return gqljson.String(b, person.Relation), true
		case kGrid:
			u := person.Grid
			if u == nil {
				return b, false // Grid! null: an error
			}
			return object(b, n.sub, func(b []byte, g *pnode) ([]byte, bool) {
				switch g.kind {
				case kCode:
					return gqljson.String(b, u.Code), true
				case kName:
					return gqljson.String(b, u.Name), true
				case kHouseholds:
					return gqljson.Int(b, int64(u.Households)), true
				case kResidents:
					return gqljson.Int(b, int64(u.Residents)), true
				}
				return gqljson.String(b, "Grid"), true
			})
		case kHousehold:
			h := person.Household
			if h == nil {
				return b, false // Household! null: an error
			}
			return object(b, n.sub, func(b []byte, f *pnode) ([]byte, bool) {
				switch f.kind {
				case kID:
					return gqljson.String(b, h.ID), true
				case kAddress:
					return gqljson.String(b, h.Address), true
				}
				return gqljson.String(b, "Household"), true
			})
		case kSection:
			return w.section(b, person, n)
		}
		return gqljson.String(b, "Person"), true
	})
}

// section writes a typed section as typedSection resolves it: null when the
// hub federates no departments, the department keeps nothing about persons
// or has nothing to show; not ok when the department is unavailable (an
// error the executor reports).
func (w *planWriter) section(b []byte, person *people.Person, n *pnode) ([]byte, bool) {
	got := w.sections[n.section.Department][person.IDNumber]
	switch {
	case got == nil:
		return gqljson.Null(b), true
	case got.unavailable != nil:
		return b, false
	case got.section == nil:
		return gqljson.Null(b), true
	}
	return w.op.AppendTyped(b, w.oc, n.typed, got.section)
}
