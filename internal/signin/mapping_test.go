package signin

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

var departments = []string{"civil_affairs", "health", "employment"}

func TestSampleMappingParses(t *testing.T) {
	raw, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMapping("sample.yaml", raw, departments); err != nil {
		t.Fatal(err)
	}
}

// TestParseMappingNamesTheLine checks that each mistake is reported at its
// line: an unknown key, an unknown role, a department not configured, a
// dept_officer without one, a scope that does not fit the role.
func TestParseMappingNamesTheLine(t *testing.T) {
	for name, c := range map[string]struct{ yaml, want string }{
		"unknown key":  {"rules:\n  - claim: groups\n    value: a\n    roles: [admin]\n    rol: [x]\n", "m.yaml:5: "},
		"unknown role": {"rules:\n  - claim: groups\n    value: a\n    roles: [mayor]\n", `m.yaml:4: rule 1: unknown role "mayor"`},
		"department": {"rules:\n  - claim: groups\n    value: a\n    roles: [dept_officer]\n    department: veterans\n",
			`m.yaml:5: rule 1: department "veterans" is not configured`},
		"no department": {"rules:\n  - claim: groups\n    value: a\n    roles: [dept_officer]\n", "m.yaml:4: rule 1: a dept_officer needs a department"},
		"scope":         {"rules:\n  - claim: groups\n    value: a\n    roles: [grid_worker]\n    scope: [\"340705\"]\n", "m.yaml:5: rule 1: "},
		"no rules":      {"subject: sub\n", "m.yaml:1: no rules"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMapping("m.yaml", []byte(c.yaml), departments)
			if err == nil {
				t.Fatal("accepted")
			}
			problems := yamlpos.Flatten(err)
			if !strings.HasPrefix(problems[0].Error(), c.want) {
				t.Errorf("error %q, want it to start %q", problems[0].Error(), c.want)
			}
		})
	}
}

func TestMappingPrincipal(t *testing.T) {
	raw, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMapping("sample.yaml", raw, departments)
	if err != nil {
		t.Fatal(err)
	}
	grid := "340705001001001"
	for name, c := range map[string]struct {
		claims map[string]any
		want   auth.Principal
		err    error
	}{
		"grid worker": {
			claims: map[string]any{"preferred_username": "wang.wu", "groups": []any{"grid-workers", "other"}, "grid_codes": []any{grid}},
			want:   auth.Principal{Subject: "wang.wu", Roles: []auth.Role{auth.GridWorker}, Scope: []string{grid}},
		},
		"officer and auditor": {
			claims: map[string]any{"preferred_username": "li.si", "groups": []any{"minzheng-officers", "auditors"}},
			want:   auth.Principal{Subject: "li.si", Roles: []auth.Role{auth.DeptOfficer, auth.Auditor}, Department: "civil_affairs"},
		},
		"a string claim": {
			claims: map[string]any{"preferred_username": "zhou", "department": "铜官区数据资源局"},
			want:   auth.Principal{Subject: "zhou", Roles: []auth.Role{auth.BIReader}, Scope: []string{"340705"}},
		},
		"no rule": {
			claims: map[string]any{"preferred_username": "zhao", "groups": []any{"visitors"}},
			err:    ErrNotAuthorized,
		},
		"a grid worker without grids": {
			claims: map[string]any{"preferred_username": "qian", "groups": []any{"grid-workers"}},
			err:    ErrNotAuthorized,
		},
		"grids that are not grids": {
			claims: map[string]any{"preferred_username": "sun", "groups": []any{"grid-workers"}, "grid_codes": "340705"},
			err:    ErrNotAuthorized,
		},
		"no subject": {
			claims: map[string]any{"sub": "x", "groups": []any{"gridhub-admins"}},
			err:    ErrNotAuthorized,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := m.Principal(c.claims)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("principal (-want +got):\n%s", d)
			}
		})
	}
}

func TestSafeReturn(t *testing.T) {
	for in, want := range map[string]string{
		"/report":                "/report",
		"/map?level=GRID":        "/map?level=GRID",
		"":                       "/",
		"//evil.example/x":       "/",
		`/\evil.example`:         "/",
		"https://evil.example/":  "/",
		"report":                 "/",
		"/report\r\nSet-Cookie:": "/",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSealedCookies(t *testing.T) {
	s, err := newSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.seal(sessionCookie, session{Subject: "a", Roles: []auth.Role{auth.Admin}})
	if err != nil {
		t.Fatal(err)
	}
	var got session
	if err := s.open(sessionCookie, v, &got); err != nil || got.Subject != "a" {
		t.Fatalf("open = %+v, %v", got, err)
	}
	// Not under another cookie's name, not edited, not under another key.
	if err := s.open(loginCookie, v, &got); err == nil {
		t.Error("a session cookie opened as the sign-in cookie")
	}
	b := []byte(v)
	b[len(b)/2] ^= 1
	if err := s.open(sessionCookie, string(b), &got); err == nil {
		t.Error("an edited cookie opened")
	}
	other, _ := newSealer(append(make([]byte, 31), 1))
	if err := other.open(sessionCookie, v, &got); err == nil {
		t.Error("a cookie opened under another key")
	}
}
