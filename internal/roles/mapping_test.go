package roles

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/proxy"
)

// staticLogins maps the migration jobs of acme/app to app_migrator and everyone else to
// app_readonly, each with its own password file.
const staticLogins = `
logins:
  - match:
      groups: [ci-migrators]
      claims: {repository: [acme/app]}
    user: app_migrator
    password_file: $DIR/mig
default:
  user: app_readonly
  password_file: $DIR/ro
`

// TestIdentitiesGetTheirRoles: through the proxy, two identities run as different
// database roles; the read-only one gets PostgreSQL's own 42501 for a write (there is no
// guardrail here at all), and its session stays usable; a migration job of another
// repository is in the migrators' group but fails the claim condition, so it gets the
// default.
func TestIdentitiesGetTheirRoles(t *testing.T) {
	pg := sharedPostgres(t)
	dir := secrets(t)
	tg := target(pg, dir)
	insp := &mappedInspector{
		mapper:     newMapper(t, parse(t, staticLogins, dir), tg, Options{}),
		identities: map[uint64]*identity.Identity{1: migrationJob(time.Hour), 2: codingAgent(time.Hour), 3: otherRepoJob(time.Hour)},
	}
	urls := startProxy(t, tg, insp)

	migrator := connect(t, urls[1])
	if cur, sess := users(t, migrator); cur != "app_migrator" || sess != "app_migrator" {
		t.Fatalf("migration job runs as %s (session %s), want app_migrator", cur, sess)
	}
	if _, err := migrator.Exec(t.Context(), "insert into app_data values (100, 'migrated') on conflict do nothing"); err != nil {
		t.Fatalf("the migrator cannot write: %v", err)
	}

	agent := connect(t, urls[2])
	if cur, _ := users(t, agent); cur != "app_readonly" {
		t.Fatalf("agent runs as %s, want app_readonly", cur)
	}
	_, err := agent.Exec(t.Context(), "update app_data set v = 'changed'")
	pgErr := pgError(t, err)
	if pgErr.Code != "42501" || pgErr.Severity != "ERROR" || pgErr.Message != "permission denied for table app_data" {
		t.Fatalf("read-only write: %s %s %q; want PostgreSQL's ERROR 42501 permission denied", pgErr.Severity, pgErr.Code, pgErr.Message)
	}
	var n int
	if err := agent.QueryRow(t.Context(), "select count(*) from app_data").Scan(&n); err != nil || n == 0 {
		t.Fatalf("the read-only session after the denied write: %d rows, %v", n, err)
	}

	if cur, _ := users(t, connect(t, urls[3])); cur != "app_readonly" {
		t.Fatalf("a migration job of another repository runs as %s, want app_readonly", cur)
	}
}

// TestUnmappedIdentityRefused: without a default, an identity no entry matches is refused
// before anything reaches the database, with FATAL 28000 naming the identity and the
// target; so is a session without a verified identity.
func TestUnmappedIdentityRefused(t *testing.T) {
	pg := sharedPostgres(t)
	dir := secrets(t)
	tg := target(pg, dir)
	cfg := parse(t, staticLogins, dir)
	cfg.Default = nil
	insp := &mappedInspector{
		mapper:     newMapper(t, cfg, tg, Options{}),
		identities: map[uint64]*identity.Identity{1: migrationJob(time.Hour), 2: codingAgent(time.Hour), 3: nil},
	}
	urls := startProxy(t, tg, insp)
	connect(t, urls[1]) // the mapped identity still gets in

	for cg, want := range map[uint64][]string{
		2: {`identity "agent-7"`, ghIssuer, `"agents"`, `target "app"`},
		3: {"without a verified identity", `target "app"`},
	} {
		_, err := pgx.Connect(t.Context(), urls[cg])
		pgErr := pgError(t, err)
		if pgErr.Severity != "FATAL" || pgErr.Code != proxy.CodeInvalidAuthorization {
			t.Fatalf("cgroup %d: %s %s %q; want FATAL 28000", cg, pgErr.Severity, pgErr.Code, pgErr.Message)
		}
		for _, w := range want {
			if !strings.Contains(pgErr.Message, w) {
				t.Errorf("cgroup %d: refusal %q does not name %s", cg, pgErr.Message, w)
			}
		}
	}
}

// TestMatchConditions: every condition set must hold, any value of a list will do, the
// first matching entry wins, claims compare in their JSON spelling, and a session without
// an identity matches no entry.
func TestMatchConditions(t *testing.T) {
	cfg := Config{
		Logins: []Entry{
			{Match: Match{Issuer: "https://other-issuer", Groups: []string{"admins"}}, Login: Login{User: "other_admin"}},
			{Match: Match{Subjects: []string{"svc-a", "svc-b"}}, Login: Login{User: "svc"}},
			{Match: Match{Groups: []string{"ci", "deployers"}, Claims: map[string][]string{"run_attempt": {"1"}, "ref_protected": {"true"}}}, Login: Login{User: "deploy"}},
			{Match: Match{Claims: map[string][]string{"aud": {"db"}}}, Login: Login{User: "aud_db"}},
			{Match: Match{Groups: []string{"ci"}}, Login: Login{User: "ci_any"}},
		},
		Default: &Login{User: "fallback"},
	}
	m := newMapper(t, cfg, proxy.Target{Name: "t", Host: "db", Port: 5432}, Options{})
	id := func(sub string, groups []string, claims map[string]any) *identity.Identity {
		return &identity.Identity{Issuer: ghIssuer, Subject: sub, Groups: groups, Claims: claims}
	}
	cases := []struct {
		name string
		id   *identity.Identity
		want string
	}{
		{"issuer differs", id("x", []string{"admins"}, nil), "fallback"},
		{"issuer and group", &identity.Identity{Issuer: "https://other-issuer", Subject: "x", Groups: []string{"admins"}}, "other_admin"},
		{"second subject of the list", id("svc-b", nil, nil), "svc"},
		{"all claims hold, number and bool", id("x", []string{"deployers"}, map[string]any{"run_attempt": json.Number("1"), "ref_protected": true}), "deploy"},
		{"one claim fails: a later entry", id("x", []string{"ci"}, map[string]any{"run_attempt": json.Number("2"), "ref_protected": true}), "ci_any"},
		{"claim missing", id("x", []string{"deployers"}, map[string]any{"run_attempt": json.Number("1")}), "fallback"},
		{"list claim", id("x", nil, map[string]any{"aud": []any{"api", "db"}}), "aud_db"},
		{"object claim never matches", id("x", nil, map[string]any{"aud": map[string]any{"db": true}}), "fallback"},
		{"first match wins", id("svc-a", []string{"ci"}, nil), "svc"},
		{"no identity", nil, "fallback"},
	}
	for _, c := range cases {
		lease, err := m.Login(t.Context(), c.id, "s")
		if err != nil || lease.User != c.want || lease.Role != c.want || lease.Ephemeral() {
			t.Errorf("%s: %+v, %v; want %s", c.name, lease, err, c.want)
		}
	}
	lease, _ := m.Login(t.Context(), id("svc-a", nil, nil), "s")
	if lease.Mapping != "logins[1]" {
		t.Errorf("lease names mapping %q, want logins[1]", lease.Mapping)
	}
}
