package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gridhub/gridhub/internal/auth"
)

// devDataDir makes a directory that looks like a "gridhub dev" data dir.
func devDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "postgres"), 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestTokenRefusals(t *testing.T) {
	devDir := devDataDir(t)
	withKeyOnly := t.TempDir()
	os.WriteFile(filepath.Join(withKeyOnly, "secret.key"), []byte("x"), 0o600)
	plainDir := t.TempDir()

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // "" means a token is printed
	}{
		{"dev dir", nil, []string{"--role", "admin", "--data-dir", devDir}, ""},
		{"dir with only secret.key", nil, []string{"--role", "admin", "--data-dir", withKeyOnly}, ""},
		{"production env", map[string]string{"GRIDHUB_ENV": "production"}, []string{"--role", "admin", "--data-dir", devDir}, "GRIDHUB_ENV is production"},
		{"prod env, any case", map[string]string{"GRIDHUB_ENV": " Prod "}, []string{"--role", "admin", "--data-dir", devDir}, "GRIDHUB_ENV is production"},
		{"staging env is fine", map[string]string{"GRIDHUB_ENV": "staging"}, []string{"--role", "admin", "--data-dir", devDir}, ""},
		{"JWKS file, default dir", map[string]string{"GRIDHUB_JWKS_FILE": "/etc/gridhub/jwks.json"}, []string{"--role", "admin"}, "GRIDHUB_JWKS_FILE is set"},
		{"JWKS URL, default dir", map[string]string{"GRIDHUB_JWKS_URL": "https://idp/jwks"}, []string{"--role", "admin"}, "GRIDHUB_JWKS_URL is set"},
		{"JWKS URL, explicit dev dir", map[string]string{"GRIDHUB_JWKS_URL": "https://idp/jwks"}, []string{"--role", "admin", "--data-dir", devDir}, ""},
		{"missing dir", nil, []string{"--role", "admin", "--data-dir", filepath.Join(plainDir, "nope")}, "is not a gridhub dev data dir"},
		{"not a dev dir", nil, []string{"--role", "admin", "--data-dir", plainDir}, "neither postgres/ nor secret.key"},
		{"no role", nil, []string{"--data-dir", devDir}, "at least one --role"},
		{"unknown role", nil, []string{"--role", "root", "--data-dir", devDir}, `unknown role "root"`},
		{"officer without department", nil, []string{"--role", "dept_officer", "--data-dir", devDir}, "dept_officer needs a department"},
		{"grid worker without grid", nil, []string{"--role", "grid_worker", "--data-dir", devDir}, "grid_worker needs at least one 15-digit grid code"},
		{"ttl too long", nil, []string{"--role", "admin", "--ttl", "720h", "--data-dir", devDir}, "outside"},
		{"stray argument", nil, []string{"--role", "admin", "--data-dir", devDir, "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := tokenCmd(tt.args, env(tt.env), &out, &errOut)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("tokenCmd() = %v", err)
				}
				if strings.Count(out.String(), ".") != 2 {
					t.Fatalf("stdout %q is not a token", out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("tokenCmd() = %v, want an error containing %q", err, tt.want)
			}
			if out.Len() > 0 {
				t.Errorf("refused, yet printed %q", out.String())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(plainDir, "dev-jwt.key")); err == nil {
		t.Error("a refused run created a key")
	}
}

func TestTokenRoundTrip(t *testing.T) {
	dir := devDataDir(t)
	var out bytes.Buffer
	args := []string{"--role", "dept_officer,bi_reader", "--department", "health", "--scope", "340705001", "--scope", "340705002003", "--ttl", "1h", "--data-dir", dir}
	if err := tokenCmd(args, env(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateDevKey(filepath.Join(dir, "dev-jwt.key"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: key})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("Verify(printed token) = %v", err)
	}
	want := &auth.Principal{
		Subject:    "dev-dept_officer+bi_reader",
		Roles:      []auth.Role{auth.DeptOfficer, auth.BIReader},
		Department: "health",
		Scope:      []string{"340705001", "340705002003"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(auth.Principal{}, "ExpiresAt", "TokenID")); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if d := time.Until(got.ExpiresAt); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("expires in %v, want 1h", d)
	}

	// A production verifier refuses the same token.
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(jwks, []byte(`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`), 0o600)
	prod, err := auth.NewVerifier(auth.Config{JWKSFile: jwks})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Verify(context.Background(), strings.TrimSpace(out.String())); err == nil {
		t.Error("production verifier accepted a dev token")
	}
}
