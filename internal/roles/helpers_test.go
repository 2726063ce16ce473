package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/testenv"
)

const superPassword = "roles-test-superuser"

// schema is the application the workloads use: login roles for configured mappings,
// NOLOGIN group roles for ephemeral ones, and an admin that may create roles.
const schema = `
CREATE TABLE app_data (id int PRIMARY KEY, v text);
INSERT INTO app_data VALUES (1, 'one');
CREATE ROLE app_readonly LOGIN PASSWORD 'ro-pw';
GRANT SELECT ON app_data TO app_readonly;
CREATE ROLE app_migrator LOGIN PASSWORD 'mig-pw';
GRANT ALL ON app_data TO app_migrator;
GRANT CREATE ON SCHEMA public TO app_migrator;
CREATE ROLE grp_readonly NOLOGIN;
GRANT SELECT ON app_data TO grp_readonly;
CREATE ROLE grp_migrator NOLOGIN;
GRANT ALL ON app_data TO grp_migrator;
GRANT CREATE ON SCHEMA public TO grp_migrator;
CREATE ROLE sluice_admin LOGIN CREATEROLE PASSWORD 'admin-pw';
GRANT pg_signal_backend TO sluice_admin;
`

var shared testenv.SharedPostgres

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// sharedPostgres returns the package's PostgreSQL (SCRAM over TCP, every statement
// logged), with the schema, started on first use. Tests keep apart by role prefix.
func sharedPostgres(t testing.TB) *pglocal.Server {
	t.Helper()
	return shared.Get(t, pglocal.Options{
		HostAuth: "scram-sha-256", SuperuserPassword: superPassword, LogStatements: true,
		Settings: []pglocal.Setting{{Name: "max_connections", Value: "200"}},
	}, func(pg *pglocal.Server) error { return pg.Exec(context.Background(), schema) })
}

// superuser is a connection to the test database as its superuser, for checking what the
// agent did behind the proxy's back.
func superuser(t *testing.T, pg *pglocal.Server) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.SocketConnString("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// secrets writes the test roles' password files and returns their directory.
func secrets(t *testing.T) string {
	dir := t.TempDir()
	for name, pw := range map[string]string{"ro": "ro-pw", "mig": "mig-pw", "admin": "admin-pw", "super": superPassword} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// parse decodes a roles configuration strictly, as the agent does, after replacing
// $DIR with dir.
func parse(t *testing.T, doc, dir string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(strings.ReplaceAll(doc, "$DIR", dir)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decoding the roles configuration: %v", err)
	}
	return c
}

// target is the proxy target of pg: plaintext, as the agent's own user postgres.
func target(pg *pglocal.Server, dir string) proxy.Target {
	return proxy.Target{
		Name:         "app",
		Destinations: []proxy.Destination{{Prefix: netip.MustParsePrefix("10.0.0.5/32"), Port: 5432}},
		Host:         pg.Host, Port: uint16(pg.Port), TLS: proxy.TLSDisable,
		User: "postgres", Password: proxy.PasswordFile(filepath.Join(dir, "super")),
	}
}

// newMapper builds a Mapper for pg and closes it at cleanup.
func newMapper(t *testing.T, cfg Config, tg proxy.Target, opts Options) *Mapper {
	t.Helper()
	opts.Logger = testLogger(t)
	m, err := New(t.Context(), cfg, tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// The identities of the tests: a CI migration job of acme/app, one of another
// repository, and an AI agent.
const ghIssuer = "https://token.actions.githubusercontent.com"

func newIdentity(subject string, groups []string, claims map[string]any, ttl time.Duration) *identity.Identity {
	if claims == nil {
		claims = map[string]any{}
	}
	claims["sub"] = subject
	return &identity.Identity{Issuer: ghIssuer, Subject: subject, Groups: groups, Claims: claims,
		Expiry: time.Now().Add(ttl).Truncate(time.Second)}
}

func migrationJob(ttl time.Duration) *identity.Identity {
	return newIdentity("repo:acme/app:environment:prod", []string{"ci-migrators"}, map[string]any{"repository": "acme/app"}, ttl)
}

func otherRepoJob(ttl time.Duration) *identity.Identity {
	return newIdentity("repo:acme/other:environment:prod", []string{"ci-migrators"}, map[string]any{"repository": "acme/other"}, ttl)
}

func codingAgent(ttl time.Duration) *identity.Identity {
	return newIdentity("agent-7", []string{"agents"}, nil, ttl)
}

// recorder keeps the statements a Mapper reports; fail, when set, is its answer.
type recorder struct {
	mu   sync.Mutex
	all  []Statement
	fail error
}

func (r *recorder) record(s Statement) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, s)
	return r.fail
}

func (r *recorder) statements() []Statement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Statement(nil), r.all...)
}

// forRole returns the statements reported for role: "reason: first word" each, failures
// marked.
func (r *recorder) forRole(role string) []string {
	var out []string
	for _, s := range r.statements() {
		if s.Role == role {
			verb, _, _ := strings.Cut(s.Text, " ")
			line := s.Reason + ": " + verb
			if s.Err != nil {
				line += " failed: " + s.Err.Error()
			}
			out = append(out, line)
		}
	}
	return out
}

// mappedInspector does with a Mapper what the agent's guard does: each session's
// identity (here: by cgroup) chooses its login at OpenSession, the proxy asks for it with
// UpstreamLogin, and Close releases it.
type mappedInspector struct {
	mapper     *Mapper
	identities map[uint64]*identity.Identity

	mu     sync.Mutex
	leases []*Lease
	closed sync.WaitGroup
}

func (i *mappedInspector) OpenSession(ctx context.Context, info *proxy.SessionInfo) (proxy.SessionInspector, error) {
	lease, err := i.mapper.Login(ctx, i.identities[info.Origin.CgroupID], fmt.Sprintf("test-%d", info.ID))
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	i.leases = append(i.leases, lease)
	i.mu.Unlock()
	i.closed.Add(1)
	return &mappedSession{i: i, lease: lease}, nil
}

// lastLease is the lease of the most recent session.
func (i *mappedInspector) lastLease() *Lease {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.leases[len(i.leases)-1]
}

type mappedSession struct {
	i     *mappedInspector
	lease *Lease
}

func (s *mappedSession) Interest() proxy.Interest                     { return proxy.Interest{} }
func (s *mappedSession) ClientMessage(pgproto3.FrontendMessage) error { return nil }
func (s *mappedSession) ServerMessage(pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	return nil, nil
}

func (s *mappedSession) UpstreamLogin(context.Context) (string, proxy.PasswordSource, error) {
	return s.lease.User, s.lease.Password, nil
}

func (s *mappedSession) Close(error) {
	defer s.i.closed.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.lease.Release(ctx); err != nil {
		slog.Error("releasing a lease", "err", err)
	}
}

// cgroupOrigins stands in for the kernel: each proxy listener is one workload's cgroup.
type cgroupOrigins map[netip.AddrPort]uint64

func (o cgroupOrigins) Lookup(_, local netip.AddrPort) (origin.Origin, error) {
	id, ok := o[local]
	if !ok {
		return origin.Origin{}, origin.ErrNotFound
	}
	return origin.Origin{Dest: netip.MustParseAddrPort("10.0.0.5:5432"), CgroupID: id, PID: 1, Mode: origin.ModeEnforce}, nil
}

// startProxy serves tg through a proxy with insp, one listener per workload cgroup, and
// returns a client connection string per cgroup.
func startProxy(t *testing.T, tg proxy.Target, insp *mappedInspector) map[uint64]string {
	t.Helper()
	origins := cgroupOrigins{}
	var listeners []net.Listener
	urls := map[uint64]string{}
	for cg := range insp.identities {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		origins[ln.Addr().(*net.TCPAddr).AddrPort()] = cg
		listeners = append(listeners, ln)
		urls[cg] = fmt.Sprintf("postgres://workload@%s/postgres?sslmode=disable", ln.Addr())
	}
	srv, err := proxy.NewServer(proxy.Config{Targets: []proxy.Target{tg}, Origins: origins, Inspector: insp, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, ln := range listeners {
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
	})
	return urls
}

// testLogger logs warnings and errors to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWriter sends log output to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// connect opens a client session through the proxy, closed at cleanup.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connecting through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func users(t *testing.T, conn *pgx.Conn) (current, session string) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), "select current_user, session_user").Scan(&current, &session); err != nil {
		t.Fatal(err)
	}
	return current, session
}

// pgError returns err as a server error, or fails the test when it is none.
func pgError(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		t.Fatalf("want a PostgreSQL error, got %v", err)
	}
	return pgErr
}

// rolesWithPrefix lists the roles whose names start with prefix.
func rolesWithPrefix(t *testing.T, su *pgx.Conn, prefix string) []string {
	t.Helper()
	rows, _ := su.Query(t.Context(), "select rolname from pg_roles where starts_with(rolname, $1) order by 1", prefix)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// eventually polls cond for up to 10 seconds: the proxy ends a session (and releases its
// lease) after the client has gone, not before the client's Close returns.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
