package roles

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/proxy"
)

// TestConfigErrors: every configuration mistake stops New with a message naming it.
func TestConfigErrors(t *testing.T) {
	tlsTarget := proxy.Target{Name: "app", Host: "db", Port: 5432, TLS: proxy.TLSVerifyFull, User: "agent"}
	plaintext := tlsTarget
	plaintext.TLS = proxy.TLSDisable
	audit := func(Statement) error { return nil }
	cases := []struct {
		name string
		doc  string
		tg   proxy.Target
		opts Options
		want string
	}{
		{"nothing", "logins: []\n", tlsTarget, Options{}, "no logins and no default"},
		{"empty match", "logins: [{match: {}, user: u}]\n", tlsTarget, Options{}, "logins[0]: match is empty"},
		{"no user", "logins: [{match: {groups: [g]}}]\n", tlsTarget, Options{}, "logins[0]: user is required"},
		{"default without user", "default: {password_file: /x}\n", tlsTarget, Options{}, "default: user is required"},
		{"two sources", "default: {user: u, password_file: /x, password_env: HOME}\n", tlsTarget, Options{}, "default: set only one"},
		{"token without TLS", "logins: [{match: {groups: [g]}, user: u, rds_iam: {region: eu-west-1}}]\n", plaintext, Options{}, `logins[0]: rds_iam: target "app" has TLS mode "disable"`},
		{"ephemeral group with a password", "default: {user: grp, password_file: /x}\nephemeral: {}\n", tlsTarget, Options{Prefix: "sluice_n_", Audit: audit}, "group role"},
		{"ephemeral without prefix", "default: {user: grp}\nephemeral: {}\n", tlsTarget, Options{Audit: audit}, "prefix"},
		{"ephemeral without audit", "default: {user: grp}\nephemeral: {}\n", tlsTarget, Options{Prefix: "sluice_n_"}, "Audit"},
		{"ephemeral admin without user", "default: {user: grp}\nephemeral: {admin: {password_file: /x}}\n", tlsTarget, Options{Prefix: "sluice_n_", Audit: audit}, "admin: user is required"},
		{"ephemeral admin token without TLS", "default: {user: grp}\nephemeral: {admin: {user: a, rds_iam: {region: x}}}\n", plaintext, Options{Prefix: "sluice_n_", Audit: audit}, "ephemeral: admin: rds_iam"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := New(t.Context(), parse(t, c.doc, ""), c.tg, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, %v; want an error containing %q", m, err, c.want)
			}
		})
	}
	var c Config
	dec := yaml.NewDecoder(strings.NewReader("logins: [{match: {group: [g]}, user: u}]\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "group") {
		t.Fatalf("a misspelt match key was accepted: %v", err)
	}
}
