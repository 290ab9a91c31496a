package graph

import (
	"slices"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/federation"
)

// departmentModel is the GraphQL view of a department: its status, and each
// record set with its fields, so that a client can build a form or a table
// without introspection.
func departmentModel(d *federation.Dept, st federation.Status) *model.Department {
	m := &model.Department{
		Code:       d.Config.Code,
		Name:       d.Config.Name,
		Kind:       d.Config.Kind,
		Healthy:    st.Healthy,
		Breaker:    st.Breaker,
		RecordSets: make([]*model.RecordSetInfo, len(d.Config.Records)),
		Writeback:  []string{},
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
		info := &model.RecordSetInfo{Name: rs.Name, Label: rs.Label, Entity: rs.Entity, Many: rs.Many,
			Description: optional(rs.Description), Fields: make([]*model.FieldInfo, len(rs.Fields))}
		for j, f := range rs.Fields {
			fi := &model.FieldInfo{Name: f.Name, Label: f.Label, Description: optional(f.Description),
				Type: f.Type, Sharing: f.Sharing, Identifier: optional(string(f.Identifier)), Values: enumValues(f)}
			info.Fields[j] = fi
		}
		m.RecordSets[i] = info
	}
	if wb := d.Config.WriteBack; wb != nil {
		for _, w := range wb.Fields {
			m.Writeback = append(m.Writeback, w.Field)
		}
	}
	return m
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// enumValues are an enum field's unified values, sorted.
func enumValues(f connectors.Field) []string {
	out := []string{}
	for _, v := range f.Codes {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}
