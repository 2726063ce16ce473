package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// withRoles adds a roles block to the world's target and creates the database roles the
// tests map identities to.
func (w *world) withRoles(block string) {
	w.t.Helper()
	ctx := context.Background()
	for _, sql := range []string{
		"ALTER ROLE sluice_app CREATEROLE",
		"GRANT pg_signal_backend TO sluice_app",
		"CREATE ROLE app_readonly LOGIN PASSWORD 'ro-secret'",
		"CREATE ROLE app_migrator LOGIN PASSWORD 'mig-secret'",
		"GRANT app_readonly, app_migrator TO sluice_app WITH ADMIN OPTION",
		"\\c app\nCREATE TABLE ledger (i int); GRANT SELECT ON ledger TO app_readonly; GRANT ALL ON ledger TO app_migrator;",
	} {
		if err := w.db.Exec(ctx, sql); err != nil {
			w.t.Fatal(err)
		}
	}
	for name, pw := range map[string]string{"ro": "ro-secret", "mig": "mig-secret"} {
		if err := os.WriteFile(filepath.Join(w.dir, name+".password"), []byte(pw), 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		w.t.Fatal(err)
	}
	block = strings.ReplaceAll(block, "DIR", w.dir)
	w.writeConfig(strings.Replace(string(cfg), "    tls: disable\n", "    tls: disable\n"+block, 1))
}

// Issue 11, acceptance 1: two identities get different upstream roles; the readonly role's
// missing privilege fails with PostgreSQL's own 42501 although no guardrail denies it; an
// identity matching no mapping is refused.
func TestIdentitiesGetTheirOwnDatabaseRoles(t *testing.T) {
	w := newWorld(t)
	w.withRoles(`    roles:
      logins:
        - match: {subjects: [migration-job]}
          user: app_migrator
          password_file: DIR/mig.password
        - match: {subjects: [agent-job]}
          user: app_readonly
          password_file: DIR/ro.password
`)
	w.startAgent()
	mig, ro, stranger := w.enforced("migration-job"), w.enforced("agent-job"), w.enforced("someone-else")

	if out, err := w.psql(mig, "insert into ledger values (1); select current_user"); err != nil || !strings.HasSuffix(out, "app_migrator") {
		t.Errorf("migration job: %q %v, want it to write as app_migrator", out, err)
	}
	if out, err := w.psql(ro, "select current_user"); err != nil || out != "app_readonly" {
		t.Errorf("agent job: %q %v, want app_readonly", out, err)
	}
	if out, err := w.psql(ro, "insert into ledger values (2)"); err == nil || !strings.Contains(out, "ERROR:  permission denied for table ledger") {
		t.Errorf("readonly insert: %q %v, want PostgreSQL's own permission error", out, err)
	}
	out, err := w.psql(stranger, "select 1")
	if err == nil || !strings.Contains(out, "FATAL:") || !strings.Contains(out, "has no database login") || !strings.Contains(out, "someone-else") {
		t.Errorf("identity with no mapping: %q %v, want FATAL 28000", out, err)
	}
}

// Issue 11, acceptance 2: ephemeral roles are created at session start VALID UNTIL the
// token's expiry, dropped at session end, dropped by the clean-up of a restarted agent,
// and 100 sessions leave no role behind.
func TestEphemeralRoles(t *testing.T) {
	w := newWorld(t)
	w.withRoles(`    roles:
      ephemeral: {}
      default:
        user: app_readonly
`)
	w.startAgent()
	cg := testenv.Cgroup(t, w.root)
	exp := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	w.enrollUntil(cg, "agent-job", exp)
	w.mustSluice("enforce", cg)

	s := w.startPsql(cg)
	who := strings.TrimSpace(s.query("select current_user || ' ' || session_user"))
	user, session, _ := strings.Cut(who, " ")
	if user != "app_readonly" || !strings.HasPrefix(session, "sluice_") {
		t.Fatalf("ephemeral session runs as %q, want an ephemeral login acting as app_readonly", who)
	}
	until := strings.TrimSpace(s.query("select extract(epoch from rolvaliduntil)::bigint from pg_roles where rolname = session_user"))
	if until != fmt.Sprint(exp.Unix()) {
		t.Errorf("VALID UNTIL %s, want the token's expiry %d", until, exp.Unix())
	}
	s.close()
	w.waitRoles(session, 0)

	// A session open when the agent dies leaves its role; the next start drops it.
	s = w.startPsql(cg)
	who = strings.TrimSpace(s.query("select session_user"))
	w.agent.cmd.Process.Signal(syscall.SIGKILL)
	<-w.agent.done
	w.agent = nil
	s.close()
	w.waitRoles(who, 1)
	w.startAgent()
	w.waitRoles(who, 0)

	for i := range 100 {
		if out, err := w.psql(cg, "select 1"); err != nil {
			t.Fatalf("session %d: %v %s", i, err, out)
		}
	}
	// Every role this agent creates is its prefix and 16 hex digits.
	w.waitRoles(session[:len(session)-16], 0)
}

// enrollUntil enrolls a token that expires at exp.
func (w *world) enrollUntil(cg, sub string, exp time.Time) {
	w.t.Helper()
	w.enroll(cg, sub, time.Until(exp))
}

// waitRoles waits until the number of roles whose name starts with prefix is n.
func (w *world) waitRoles(prefix string, n int) {
	w.t.Helper()
	q := fmt.Sprintf("select count(*) from pg_roles where starts_with(rolname, '%s')", prefix)
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := w.db.Query(context.Background(), q)
		if err == nil && strings.TrimSpace(out) == fmt.Sprint(n) {
			return
		}
		if time.Now().After(deadline) {
			left, _ := w.db.Query(context.Background(), fmt.Sprintf("select string_agg(rolname, ' ') from pg_roles where starts_with(rolname, '%s')", prefix))
			w.t.Fatalf("roles named %s*: %s (%v), want %d: %s", prefix, out, err, n, left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
