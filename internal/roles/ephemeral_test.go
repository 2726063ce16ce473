package roles

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/proxy"
)

// ephemeralLogins maps migration jobs to grp_migrator and everyone else to grp_readonly,
// each session as a role of its own, created by sluice_admin.
const ephemeralLogins = `
logins:
  - match: {groups: [ci-migrators], claims: {repository: [acme/app]}}
    user: grp_migrator
default:
  user: grp_readonly
ephemeral:
  admin: {user: sluice_admin, password_file: $DIR/admin}
`

// ephemeralSetup is a proxy whose sessions get ephemeral roles with prefix.
type ephemeralSetup struct {
	insp *mappedInspector
	rec  *recorder
	urls map[uint64]string
	su   *pgx.Conn
}

func setupEphemeral(t *testing.T, prefix string, ids map[uint64]*identity.Identity) *ephemeralSetup {
	t.Helper()
	pg := sharedPostgres(t)
	dir := secrets(t)
	tg := target(pg, dir)
	rec := &recorder{}
	insp := &mappedInspector{
		mapper:     newMapper(t, parse(t, ephemeralLogins, dir), tg, Options{Prefix: prefix, Audit: rec.record}),
		identities: ids,
	}
	return &ephemeralSetup{insp: insp, rec: rec, urls: startProxy(t, tg, insp), su: superuser(t, pg)}
}

// TestEphemeralRoleLifecycle: a session runs as a role created for it, valid until the
// token's expiry, able to log in once, acting as the mapped group role and holding no
// privilege of its own; its password appears nowhere; it is dropped when the session ends,
// and every statement the agent ran for it was reported.
func TestEphemeralRoleLifecycle(t *testing.T) {
	prefix := "sluice_lifecycle_"
	agentID := codingAgent(time.Hour)
	s := setupEphemeral(t, prefix, map[uint64]*identity.Identity{1: agentID, 2: migrationJob(time.Hour)})

	conn := connect(t, s.urls[1])
	cur, role := users(t, conn)
	if cur != "grp_readonly" || !ownRole(prefix, role) {
		t.Fatalf("session runs as current_user %q, session_user %q; want grp_readonly and a role %s<hex>", cur, role, prefix)
	}
	var validUntil time.Time
	var connLimit int
	var inherit bool
	var verifier string
	err := s.su.QueryRow(t.Context(), `select a.rolvaliduntil, a.rolconnlimit, a.rolinherit, a.rolpassword
		from pg_authid a where a.rolname = $1`, role).Scan(&validUntil, &connLimit, &inherit, &verifier)
	if err != nil {
		t.Fatal(err)
	}
	if !validUntil.Equal(agentID.Expiry) {
		t.Errorf("VALID UNTIL %v, want the token's expiry %v", validUntil, agentID.Expiry)
	}
	if connLimit != 1 || inherit || !strings.HasPrefix(verifier, "SCRAM-SHA-256$4096:") {
		t.Errorf("connection limit %d, inherit %v, password stored as %.20q; want 1, false, a SCRAM verifier", connLimit, inherit, verifier)
	}
	var member bool
	if err := s.su.QueryRow(t.Context(), "select pg_has_role($1, 'grp_readonly', 'MEMBER')", role).Scan(&member); err != nil || !member {
		t.Fatalf("role is a member of grp_readonly: %v, %v", member, err)
	}

	_, err = conn.Exec(t.Context(), "delete from app_data")
	if pgErr := pgError(t, err); pgErr.Code != "42501" {
		t.Fatalf("read-only ephemeral role deleting: %s %q, want 42501", pgErr.Code, pgErr.Message)
	}
	// Without the group role, the session's own role can do nothing: no privilege
	// is inherited, so one who escapes the default role gains nothing.
	if _, err := conn.Exec(t.Context(), "set role none"); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), "select * from app_data")
	if pgErr := pgError(t, err); pgErr.Code != "42501" {
		t.Fatalf("the ephemeral role itself reading: %s %q, want 42501", pgErr.Code, pgErr.Message)
	}
	// A second login with the same role (were its password known) is refused.
	password, _ := s.insp.lastLease().Password.Password(t.Context())
	_, err = pgx.Connect(t.Context(), sharedPostgres(t).ConnString(role, "postgres")+"&password="+password)
	if pgErr := pgError(t, err); pgErr.Code != "53300" {
		t.Fatalf("second login as the ephemeral role: %s %q, want 53300 too many connections", pgErr.Code, pgErr.Message)
	}

	if err := conn.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the role is dropped", func() bool { return len(rolesWithPrefix(t, s.su, role)) == 0 })
	want := []string{"session start: CREATE", "session end: SELECT", "session end: DROP"}
	if got := s.rec.forRole(role); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("statements reported for the role: %q, want %q", got, want)
	}

	log, err := sharedPostgres(t).Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, role) {
		t.Fatal("the server log does not show the role's statements: the password check below would prove nothing")
	}
	for _, st := range s.rec.statements() {
		if strings.Contains(st.Text, password) || strings.Contains(st.Text, verifier) {
			t.Fatalf("a reported statement holds the password or its verifier: %s", st.Text)
		}
	}
	if strings.Contains(log, password) {
		t.Fatal("the server log holds the ephemeral role's password")
	}

	// Objects a session creates belong to the group role, so dropping the session's
	// role neither fails nor takes them along.
	mig := connect(t, s.urls[2])
	_, migRole := users(t, mig)
	if _, err := mig.Exec(t.Context(), "create table lifecycle_migrated (id int)"); err != nil {
		t.Fatal(err)
	}
	_ = mig.Close(t.Context())
	eventually(t, "the migrator's role is dropped", func() bool { return len(rolesWithPrefix(t, s.su, migRole)) == 0 })
	var owner string
	if err := s.su.QueryRow(t.Context(), "select tableowner from pg_tables where tablename = 'lifecycle_migrated'").Scan(&owner); err != nil || owner != "grp_migrator" {
		t.Fatalf("the migration's table is owned by %q (%v), want grp_migrator", owner, err)
	}
}

// TestEphemeralRoleExpiry: when the token expires, the role is dropped and its open
// session ended by the server; a refreshed token extends a role instead.
func TestEphemeralRoleExpiry(t *testing.T) {
	prefix := "sluice_expiry_"
	s := setupEphemeral(t, prefix, map[uint64]*identity.Identity{1: codingAgent(3 * time.Second)})

	short := connect(t, s.urls[1])
	_, shortRole := users(t, short)
	extended := connect(t, s.urls[1])
	_, extendedRole := users(t, extended)
	until := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := s.insp.lastLease().Extend(t.Context(), until); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the expired role is dropped", func() bool { return len(rolesWithPrefix(t, s.su, shortRole)) == 0 })
	if _, err := short.Exec(t.Context(), "select 1"); err == nil {
		t.Fatal("the session of an expired role still runs statements")
	}
	if got, want := strings.Join(s.rec.forRole(shortRole), "|"), "session start: CREATE|token expiry: SELECT|token expiry: DROP"; got != want {
		t.Fatalf("statements reported for the expired role: %q, want %q", got, want)
	}

	if _, err := extended.Exec(t.Context(), "select 1"); err != nil {
		t.Fatalf("the extended session was ended: %v", err)
	}
	var validUntil time.Time
	if err := s.su.QueryRow(t.Context(), "select rolvaliduntil from pg_roles where rolname = $1", extendedRole).Scan(&validUntil); err != nil || !validUntil.Equal(until) {
		t.Fatalf("extended role valid until %v (%v), want %v", validUntil, err, until)
	}
	if got := s.rec.forRole(extendedRole); len(got) != 2 || got[1] != "token refresh: ALTER" {
		t.Fatalf("statements reported for the extended role: %q", got)
	}
}

// TestEphemeralRefusals: an expired token gets no role, a session without a verified
// identity gets none even when a default exists, and a creation that cannot be audited
// does not happen.
func TestEphemeralRefusals(t *testing.T) {
	prefix := "sluice_refusals_"
	s := setupEphemeral(t, prefix, map[uint64]*identity.Identity{1: codingAgent(-time.Minute), 2: nil, 3: codingAgent(time.Hour)})
	s.rec.fail = errors.New("audit log full")
	for cg, want := range map[uint64]string{1: "28000", 2: "28000", 3: "58030"} {
		_, err := pgx.Connect(t.Context(), s.urls[cg])
		if pgErr := pgError(t, err); pgErr.Code != want || pgErr.Severity != "FATAL" {
			t.Errorf("cgroup %d: %s %s %q, want FATAL %s", cg, pgErr.Severity, pgErr.Code, pgErr.Message, want)
		}
	}
	if left := rolesWithPrefix(t, s.su, prefix); len(left) != 0 {
		t.Fatalf("roles created for refused sessions: %q", left)
	}
	if n := len(s.rec.statements()); n != 1 {
		t.Fatalf("%d statements reported, want only the vetoed CREATE", n)
	}
}

// TestEphemeralCleanup: after a crash (leases never released), a new Mapper with the same
// prefix drops exactly the roles named as this agent names them, ending their sessions,
// and leaves alone its own live roles, other agents' roles and look-alikes.
func TestEphemeralCleanup(t *testing.T) {
	pg := sharedPostgres(t)
	dir := secrets(t)
	tg := target(pg, dir)
	su := superuser(t, pg)
	prefix := DefaultPrefix("node-a.example")
	other := DefaultPrefix("node-a.example.other")
	cfg := parse(t, ephemeralLogins, dir)
	rec := &recorder{}

	crashed := newMapper(t, cfg, tg, Options{Prefix: prefix, Audit: rec.record})
	var orphans []string
	var orphanConn *pgx.Conn
	for range 2 {
		lease, err := crashed.Login(t.Context(), codingAgent(time.Hour), "before-crash")
		if err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, lease.User)
		if orphanConn == nil {
			pw, _ := lease.Password.Password(t.Context())
			if orphanConn, err = pgx.Connect(t.Context(), pg.ConnString(lease.User, "postgres")+"&password="+pw); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = orphanConn.Close(context.Background()) })
		}
	}
	otherAgent := newMapper(t, cfg, tg, Options{Prefix: other, Audit: rec.record})
	otherLease, err := otherAgent.Login(t.Context(), codingAgent(time.Hour), "other")
	if err != nil {
		t.Fatal(err)
	}
	lookAlikes := []string{prefix + "notarandomsuffix", prefix + "0123456789ABCDEF", prefix + "0123456789abcdef0"}
	for _, name := range lookAlikes {
		if _, err := su.Exec(t.Context(), "create role "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}

	restarted := newMapper(t, cfg, tg, Options{Prefix: prefix, Audit: rec.record})
	live, err := restarted.Login(t.Context(), codingAgent(time.Hour), "after-restart")
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := restarted.Cleanup(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dropped)
	slices.Sort(orphans)
	if !slices.Equal(dropped, orphans) {
		t.Fatalf("clean-up dropped %q, want exactly the orphans %q", dropped, orphans)
	}
	if _, err := orphanConn.Exec(t.Context(), "select 1"); err == nil {
		t.Fatal("an orphaned role's session survived the clean-up")
	}
	remaining := rolesWithPrefix(t, su, "sluice_")
	for _, keep := range append([]string{live.User, otherLease.User}, lookAlikes...) {
		if !slices.Contains(remaining, keep) {
			t.Errorf("clean-up dropped %s, which is not an orphan of this agent", keep)
		}
	}
	for _, o := range orphans {
		if got := rec.forRole(o); len(got) != 3 || got[2] != "start-up clean-up: DROP" {
			t.Errorf("statements reported for orphan %s: %q", o, got)
		}
	}
	for _, l := range []*Lease{live, otherLease} {
		if err := l.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range lookAlikes {
		if _, err := su.Exec(t.Context(), "drop role "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEphemeralHundredSessions: 100 sessions, ten at a time, each with its own role; none
// is left once they have ended, and each role's creation and drop was reported.
func TestEphemeralHundredSessions(t *testing.T) {
	prefix := "sluice_hundred_"
	s := setupEphemeral(t, prefix, map[uint64]*identity.Identity{1: codingAgent(time.Hour)})
	const sessions, parallel = 100, 10
	seen := make(chan string, sessions)
	errs := make(chan error, sessions)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() {
			for range sessions / parallel {
				conn, err := pgx.Connect(t.Context(), s.urls[1])
				if err != nil {
					errs <- err
					return
				}
				var cur, role string
				err = conn.QueryRow(t.Context(), "select current_user, session_user from app_data limit 1").Scan(&cur, &role)
				_ = conn.Close(t.Context())
				if err != nil || cur != "grp_readonly" {
					errs <- fmt.Errorf("worker %d ran as %q: %v", w, cur, err)
					return
				}
				seen <- role
			}
		})
	}
	wg.Wait()
	close(errs)
	close(seen)
	for err := range errs {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for r := range seen {
		distinct[r] = true
	}
	if len(distinct) != sessions {
		t.Fatalf("%d distinct roles for %d sessions", len(distinct), sessions)
	}
	s.insp.closed.Wait() // every session's Close (and its drop) has returned
	if left := rolesWithPrefix(t, s.su, prefix); len(left) != 0 {
		t.Fatalf("%d roles left after %d sessions: %q", len(left), sessions, left)
	}
	creates, drops := 0, 0
	for _, st := range s.rec.statements() {
		switch {
		case st.Err != nil:
			t.Errorf("statement failed: %s: %v", st.Text, st.Err)
		case strings.HasPrefix(st.Text, "CREATE ROLE"):
			creates++
		case strings.HasPrefix(st.Text, "DROP ROLE"):
			drops++
		}
	}
	if creates != sessions || drops != sessions {
		t.Fatalf("reported %d creations and %d drops for %d sessions", creates, drops, sessions)
	}
}

// TestEphemeralAdminPrivileges: an admin login that may not create roles refuses the
// session with the server's reason instead of falling back to any other login.
func TestEphemeralAdminPrivileges(t *testing.T) {
	pg := sharedPostgres(t)
	dir := secrets(t)
	tg := target(pg, dir)
	cfg := parse(t, strings.Replace(ephemeralLogins, "{user: sluice_admin, password_file: $DIR/admin}", "{user: app_readonly, password_file: $DIR/ro}", 1), dir)
	m := newMapper(t, cfg, tg, Options{Prefix: "sluice_noadmin_", Audit: (&recorder{}).record})
	_, err := m.Login(t.Context(), codingAgent(time.Hour), "s")
	var pe *proxy.Error
	if !errors.As(err, &pe) || pe.Code != proxy.CodeUnableToConnect || !strings.Contains(pe.Message, "permission denied to create role") {
		t.Fatalf("login with an admin lacking CREATEROLE: %v", err)
	}
}
