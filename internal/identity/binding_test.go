package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// githubClaims is the shape of a GitHub Actions OIDC token's payload.
const githubClaims = `{
	"iss": "https://token.actions.githubusercontent.com",
	"sub": "repo:octo-org/app:ref:refs/heads/main",
	"repository": "octo-org/app",
	"repository_id": "123456789",
	"repository_owner": "octo-org",
	"repository_owner_id": "4242",
	"ref": "refs/heads/main",
	"run_attempt": 1,
	"big_id": 9007199254740993,
	"runner_environment": "self-hosted",
	"protected": true,
	"teams": ["deploy", "sre"],
	"kubernetes.io": {"namespace": "ci", "pod": {"name": "runner-0", "uid": "a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80"}},
	"a/b": {"c~d": "escaped"},
	"nothing": null
}`

func mustClaims(t *testing.T, s string) claims {
	t.Helper()
	c, err := decodeClaims([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBindingMatches checks every-key-must-match, any-value, globs, lists, numbers, booleans
// and nested claims.
func TestBindingMatches(t *testing.T) {
	c := mustClaims(t, githubClaims)
	tests := []struct {
		name string
		b    Binding
		want bool
	}{
		{"immutable id", Binding{Claims: map[string][]string{"repository_id": {"123456789"}}}, true},
		{"any listed value", Binding{Claims: map[string][]string{"repository_id": {"1", "123456789"}}}, true},
		{"every key must match", Binding{Claims: map[string][]string{"repository_id": {"123456789"}, "ref": {"refs/heads/dev"}}}, false},
		{"all keys match", Binding{Claims: map[string][]string{"repository_id": {"123456789"}, "ref": {"refs/heads/main"}}}, true},
		{"missing claim", Binding{Claims: map[string][]string{"environment": {"prod"}}}, false},
		{"exact is not a glob", Binding{Claims: map[string][]string{"repository": {"octo-org/*"}}}, false},
		{"glob", Binding{Glob: true, Claims: map[string][]string{"repository": {"octo-org/*"}}}, true},
		{"glob star stops at slash", Binding{Glob: true, Claims: map[string][]string{"sub": {"repo:octo-org/*"}}}, false},
		{"glob over a whole subject", Binding{Glob: true, Claims: map[string][]string{"sub": {"repo:octo-org/app:ref:refs/heads/*"}}}, true},
		{"number", Binding{Claims: map[string][]string{"run_attempt": {"1"}}}, true},
		{"number beyond float64", Binding{Claims: map[string][]string{"big_id": {"9007199254740993"}}}, true},
		{"bool", Binding{Claims: map[string][]string{"protected": {"true"}}}, true},
		{"list element", Binding{Claims: map[string][]string{"teams": {"sre"}}}, true},
		{"list without it", Binding{Claims: map[string][]string{"teams": {"admin"}}}, false},
		{"nested pointer", Binding{Claims: map[string][]string{"/kubernetes.io/pod/uid": {"a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80"}}}, true},
		{"pointer escapes", Binding{Claims: map[string][]string{"/a~1b/c~0d": {"escaped"}}}, true},
		{"pointer into a scalar", Binding{Claims: map[string][]string{"/repository/x": {"*"}}, Glob: true}, false},
		{"object never matches", Binding{Claims: map[string][]string{"kubernetes.io": {"*"}}, Glob: true}, false},
		{"null never matches", Binding{Claims: map[string][]string{"nothing": {"*", "null", ""}}, Glob: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.b.validate(); err != nil {
				t.Fatal(err)
			}
			if got := tt.b.matches(c); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestBindingIdentity checks how bindings shape the identity: subject, groups, selected claims,
// refusal without a match, and refusal when matches disagree on the subject.
func TestBindingIdentity(t *testing.T) {
	c := mustClaims(t, githubClaims)
	exp := time.Unix(2000000000, 0)
	cfg := IssuerConfig{
		Issuer:      "https://token.actions.githubusercontent.com",
		GroupsClaim: "teams",
		Claims:      []string{"ref", "absent"},
		Bindings: []Binding{
			{Subject: "app-deployer", Groups: []string{"deployers"}, Claims: map[string][]string{"repository_id": {"123456789"}}},
			{Groups: []string{"self-hosted", "deployers"}, Claims: map[string][]string{"runner_environment": {"self-hosted"}}},
			{Subject: "never", Claims: map[string][]string{"repository_id": {"1"}}},
		},
	}
	id, err := cfg.identity(c, "repo:octo-org/app:ref:refs/heads/main", "", exp, "raw.token.text")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "app-deployer" {
		t.Errorf("Subject = %q", id.Subject)
	}
	if want := []string{"deploy", "deployers", "self-hosted", "sre"}; !slices.Equal(id.Groups, want) {
		t.Errorf("Groups = %q, want %q", id.Groups, want)
	}
	wantClaims := map[string]any{
		"sub": "repo:octo-org/app:ref:refs/heads/main", "ref": "refs/heads/main",
		"repository_id": "123456789", "runner_environment": "self-hosted",
	}
	if fmt.Sprint(id.Claims) != fmt.Sprint(wantClaims) {
		t.Errorf("Claims = %v, want %v", id.Claims, wantClaims)
	}
	if !strings.HasPrefix(id.TokenID, "sha256:") || len(id.TokenID) != len("sha256:")+32 {
		t.Errorf("TokenID without jti = %q", id.TokenID)
	}

	cfg.Bindings = []Binding{{Claims: map[string][]string{"repository_id": {"987"}}}}
	if _, err := cfg.identity(c, "s", "j", exp, "t"); !errors.Is(err, ErrNotBound) {
		t.Errorf("no matching binding: %v, want ErrNotBound", err)
	}
	cfg.Bindings = []Binding{
		{Subject: "a", Claims: map[string][]string{"repository_id": {"123456789"}}},
		{Subject: "b", Claims: map[string][]string{"repository_owner_id": {"4242"}}},
	}
	if _, err := cfg.identity(c, "s", "j", exp, "t"); err == nil || !strings.Contains(err.Error(), "different subjects") {
		t.Errorf("two subjects: %v", err)
	}
	cfg.Bindings = []Binding{{Claims: map[string][]string{"repository_id": {"123456789"}}}}
	id, err = cfg.identity(c, "the-sub", "the-jti", exp, "t")
	if err != nil || id.Subject != "the-sub" || id.TokenID != "the-jti" {
		t.Errorf("binding without a subject: %+v, %v; want the token's sub and jti", id, err)
	}
	if n, ok := id.Claims["ref"]; !ok || n != "refs/heads/main" {
		t.Errorf("selected claim ref = %v", n)
	}
	if _, isNum := mustClaims(t, githubClaims)["run_attempt"].(json.Number); !isNum {
		t.Error("numbers are not kept as json.Number")
	}
}
