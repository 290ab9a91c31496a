package report

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
)

// A template of the configuration directory is filed only in the streets
// the configuration says approved it (gridwork.yaml's admission); without
// that it is approved everywhere.
func TestConfiguredAdmission(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 0)
	var street string
	for _, p := range f.City.Persons {
		if strconv.FormatInt(p.ID, 10) == subject {
			street = p.GridCode[:9]
		}
	}
	other := "340705999"
	ids := func(ts []*Template) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	before, err := f.svc.TemplatesFor(ctx, []string{street})
	if err != nil || !slices.Contains(ids(before), "home_visit") {
		t.Fatalf("before: %v %v", ids(before), err)
	}
	f.svc.SetConfiguredAdmission(func(template, st string) bool { return template != "home_visit" || st == other })
	after, _ := f.svc.TemplatesFor(ctx, []string{street})
	if slices.Contains(ids(after), "home_visit") || !slices.Contains(ids(after), "floating_registration") {
		t.Errorf("offered after the street withdrew: %v", ids(after))
	}
	_, err = f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 1, Subject: subject, IdempotencyKey: newKey(),
		Values: []FieldValue{{Field: "core.person.residence", Value: "RESIDENT"}}}, Actor{Subject: "t"})
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Rule != "not_approved" {
		t.Errorf("submit in a street that did not approve it: %v", err)
	}
	if _, err := f.svc.Draft(ctx, "home_visit", 0, subject); err == nil {
		t.Error("a draft in a street that did not approve it")
	}
	if n := f.count(t, `SELECT count(*) FROM report_submissions`); n != 0 {
		t.Errorf("%d submissions stored", n)
	}
}
