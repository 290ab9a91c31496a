package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrincipalValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Principal
		want string // "" for valid
	}{
		{"admin", Principal{Subject: "a", Roles: []Role{Admin}}, ""},
		{"auditor", Principal{Subject: "a", Roles: []Role{Auditor}}, ""},
		{"bi reader, city", Principal{Subject: "a", Roles: []Role{BIReader}}, ""},
		{"bi reader, district", Principal{Subject: "a", Roles: []Role{BIReader}, Scope: []string{"340705"}}, ""},
		{"officer", Principal{Subject: "a", Roles: []Role{DeptOfficer}, Department: "civil_affairs"}, ""},
		{"officer with scope", Principal{Subject: "a", Roles: []Role{DeptOfficer}, Department: "party_building", Scope: []string{"340705001", "340705002003"}}, ""},
		{"grid worker", Principal{Subject: "a", Roles: []Role{GridWorker}, Scope: []string{"340705001001001", "340705001001002"}}, ""},
		{"community admin", Principal{Subject: "a", Roles: []Role{CommunityAdmin}, Scope: []string{"340705001001"}}, ""},
		{"street admin", Principal{Subject: "a", Roles: []Role{StreetAdmin}, Scope: []string{"340705001"}}, ""},
		{"grid worker and community admin", Principal{Subject: "a", Roles: []Role{GridWorker, CommunityAdmin}, Scope: []string{"340705001001001", "340705001002"}}, ""},

		{"no subject", Principal{Roles: []Role{Admin}}, "no subject"},
		{"blank subject", Principal{Subject: "  ", Roles: []Role{Admin}}, "no subject"},
		{"long subject", Principal{Subject: strings.Repeat("s", 257), Roles: []Role{Admin}}, "subject longer than 256 bytes"},
		{"no roles", Principal{Subject: "a"}, "no roles"},
		{"unknown role", Principal{Subject: "a", Roles: []Role{"Admin"}}, `unknown role "Admin"`},
		{"unknown role holding an ID number", Principal{Subject: "a", Roles: []Role{"34070519900101123X"}}, `unknown role "340705********123X"`},
		{"officer without department", Principal{Subject: "a", Roles: []Role{DeptOfficer}}, "dept_officer needs a department"},
		{"malformed department", Principal{Subject: "a", Roles: []Role{DeptOfficer}, Department: "Police Dept"}, `department "Police Dept" is not a department code`},
		{"department on a grid worker", Principal{Subject: "a", Roles: []Role{GridWorker}, Department: "health", Scope: []string{"340705001001001"}}, "a department is only for dept_officer"},
		{"grid worker without scope", Principal{Subject: "a", Roles: []Role{GridWorker}}, "grid_worker needs at least one 15-digit grid code"},
		{"grid worker with a community code", Principal{Subject: "a", Roles: []Role{GridWorker}, Scope: []string{"340705001001"}}, `scope code "340705001001": 12 digits fit none of the roles grid_worker`},
		{"community admin with a grid code", Principal{Subject: "a", Roles: []Role{CommunityAdmin}, Scope: []string{"340705001001001"}}, "15 digits fit none"},
		{"street admin with a district", Principal{Subject: "a", Roles: []Role{StreetAdmin}, Scope: []string{"340705"}}, "6 digits fit none"},
		{"street admin without scope", Principal{Subject: "a", Roles: []Role{StreetAdmin}}, "street_admin needs at least one 9-digit township code"},
		{"community admin without a community", Principal{Subject: "a", Roles: []Role{CommunityAdmin, StreetAdmin}, Scope: []string{"340705001"}}, "community_admin needs"},
		{"admin with scope", Principal{Subject: "a", Roles: []Role{Admin}, Scope: []string{"340705"}}, "fit none of the roles admin"},
		{"auditor with scope", Principal{Subject: "a", Roles: []Role{Auditor}, Scope: []string{"340705"}}, "fit none"},
		{"non-digit code", Principal{Subject: "a", Roles: []Role{StreetAdmin}, Scope: []string{"34070500X"}}, "not all digits"},
		{"empty code", Principal{Subject: "a", Roles: []Role{DeptOfficer}, Department: "health", Scope: []string{""}}, "not all digits"},
		{"full-width digits", Principal{Subject: "a", Roles: []Role{StreetAdmin}, Scope: []string{"３４０７０５００１"}}, "not all digits"},
		{"odd length", Principal{Subject: "a", Roles: []Role{DeptOfficer}, Department: "health", Scope: []string{"3407051"}}, "7 digits fit none"},
		{"too many codes", Principal{Subject: "a", Roles: []Role{BIReader}, Scope: make([]string, MaxScopeCodes+1)}, "more than 256 scope codes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		if got, err := ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	if _, err := ParseRole("root"); err == nil {
		t.Error(`ParseRole("root") succeeded`)
	}
}

// TestScopeMatrix pins the row, unit and aggregate visibility of every role
// against the codes around one grid: 340705 (district) > 340705001 (township) >
// 340705001001 (community) > 340705001001001 (grid), plus a sibling at each level.
func TestScopeMatrix(t *testing.T) {
	codes := []string{
		"340705",          // district
		"340705001",       // township
		"340705001001",    // community
		"340705001001001", // the grid
		"340705001001002", // a sibling grid
		"340705001002",    // a sibling community
		"340705002",       // a sibling township
		"340706",          // another district
		"",                // malformed
		"3407050010",      // malformed: 10 digits
		"34070500100100x", // malformed
	}
	// Each row is the answer for codes, in order: I = InScope, U = CoversUnit,
	// A = InAggregateScope; "-" for none of them.
	principals := []struct {
		name string
		p    *Principal
		want []string
	}{
		{"nil", nil, []string{"-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"}},
		{"admin", &Principal{Roles: []Role{Admin}}, []string{"IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "-", "-", "-"}},
		{"auditor", &Principal{Roles: []Role{Auditor}}, []string{"-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"}},
		{"dept officer, city", &Principal{Roles: []Role{DeptOfficer}, Department: "health"},
			[]string{"IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "IUA", "-", "-", "-"}},
		{"dept officer, township", &Principal{Roles: []Role{DeptOfficer}, Department: "health", Scope: []string{"340705001"}},
			[]string{"U", "IUA", "IUA", "IUA", "IUA", "IUA", "-", "-", "-", "-", "-"}},
		{"grid worker", &Principal{Roles: []Role{GridWorker}, Scope: []string{"340705001001001"}},
			[]string{"U", "U", "U", "IUA", "-", "-", "-", "-", "-", "-", "-"}},
		{"community admin", &Principal{Roles: []Role{CommunityAdmin}, Scope: []string{"340705001001"}},
			[]string{"U", "U", "IUA", "IUA", "IUA", "-", "-", "-", "-", "-", "-"}},
		{"street admin", &Principal{Roles: []Role{StreetAdmin}, Scope: []string{"340705001"}},
			[]string{"U", "IUA", "IUA", "IUA", "IUA", "IUA", "-", "-", "-", "-", "-"}},
		{"bi reader, city", &Principal{Roles: []Role{BIReader}},
			[]string{"UA", "UA", "UA", "UA", "UA", "UA", "UA", "UA", "-", "-", "-"}},
		{"bi reader, community", &Principal{Roles: []Role{BIReader}, Scope: []string{"340705001001"}},
			[]string{"U", "U", "UA", "UA", "UA", "-", "-", "-", "-", "-", "-"}},
		{"bi reader and grid worker", &Principal{Roles: []Role{BIReader, GridWorker}, Scope: []string{"340705001001001"}},
			[]string{"U", "U", "U", "IUA", "-", "-", "-", "-", "-", "-", "-"}},
		{"two grids in two communities", &Principal{Roles: []Role{GridWorker}, Scope: []string{"340705001001001", "340705001002003"}},
			[]string{"U", "U", "U", "IUA", "-", "U", "-", "-", "-", "-", "-"}},
	}
	for _, pr := range principals {
		t.Run(pr.name, func(t *testing.T) {
			if pr.p != nil {
				p := *pr.p
				p.Subject = "s"
				if err := p.Validate(); err != nil {
					t.Fatalf("test principal is invalid: %v", err)
				}
			}
			got := make([]string, len(codes))
			for i, c := range codes {
				var s string
				if pr.p.InScope(c) {
					s += "I"
				}
				if pr.p.CoversUnit(c) {
					s += "U"
				}
				if pr.p.InAggregateScope(c) {
					s += "A"
				}
				if s == "" {
					s = "-"
				}
				got[i] = s
			}
			if diff := cmp.Diff(pr.want, got); diff != "" {
				t.Errorf("visibility over %q (-want +got):\n%s", codes, diff)
			}
		})
	}
}

func TestContext(t *testing.T) {
	if p, ok := FromContext(context.Background()); ok || p != nil {
		t.Errorf("FromContext(empty) = %v, %t", p, ok)
	}
	if _, ok := FromContext(WithPrincipal(context.Background(), nil)); ok {
		t.Error("FromContext(nil principal) ok")
	}
	want := &Principal{Subject: "a", Roles: []Role{Admin}}
	if got, ok := FromContext(WithPrincipal(context.Background(), want)); !ok || got != want {
		t.Errorf("FromContext() = %v, %t", got, ok)
	}
}

func TestLogValueMasksIdentityNumbers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	p := &Principal{
		Subject:    "34070519900101123X",
		Roles:      []Role{DeptOfficer, BIReader},
		Department: "health",
		Scope:      []string{"340705001001001", "340705001001002"},
		TokenID:    "jti-1",
	}
	log.Info("request", "principal", p)
	got := buf.String()
	for _, want := range []string{"principal.subject=340705********123X", "principal.roles=dept_officer,bi_reader", "principal.department=health", "principal.scope=2"} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	for _, leak := range []string{"19900101", "340705001001001"} {
		if strings.Contains(got, leak) {
			t.Errorf("log line %q leaks %q", got, leak)
		}
	}
}
