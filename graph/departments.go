package graph

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/people"
)

// personSection resolves one department's section of a resident's record.
func personSection[T any](ctx context.Context, r *Resolver, dept string, p *people.Person) (*T, error) {
	if r.Federation == nil {
		return nil, nil
	}
	var out T
	ok, err := r.section(ctx, dept, connectors.Person, p.IDNumber, &out)
	if !ok {
		return nil, err
	}
	return &out, nil
}

// departmentModel is the GraphQL view of a department's status.
func departmentModel(d *federation.Dept, st federation.Status) *model.Department {
	m := &model.Department{
		Code:       d.Config.Code,
		Name:       d.Config.Name,
		Kind:       d.Config.Kind,
		Healthy:    st.Healthy,
		Breaker:    st.Breaker,
		RecordSets: make([]*model.RecordSetInfo, len(d.Config.Records)),
	}
	if st.Latency > 0 {
		ms := float64(st.Latency) / float64(time.Millisecond)
		m.LatencyMs = &ms
	}
	if st.LastError != "" {
		m.LastError, m.LastErrorAt = &st.LastError, &st.LastErrorAt
	}
	if !st.LastSuccess.IsZero() {
		m.LastSuccessAt = &st.LastSuccess
	}
	for i, rs := range d.Config.Records {
		m.RecordSets[i] = &model.RecordSetInfo{Name: rs.Name, Label: rs.Label, Entity: rs.Entity}
	}
	return m
}
