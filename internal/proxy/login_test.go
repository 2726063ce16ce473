package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// loginInspector is an inspector whose sessions choose their upstream login: user and
// password, or err.
type loginInspector struct {
	user     string
	password PasswordSource
	err      error

	mu     sync.Mutex
	closed []error
}

func (i *loginInspector) OpenSession(context.Context, *SessionInfo) (SessionInspector, error) {
	return (*loginSession)(i), nil
}

type loginSession loginInspector

func (s *loginSession) Interest() Interest                           { return Interest{} }
func (s *loginSession) ClientMessage(pgproto3.FrontendMessage) error { return nil }
func (s *loginSession) ServerMessage(pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	return nil, nil
}

func (s *loginSession) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, err)
}

func (s *loginSession) UpstreamLogin(context.Context) (string, PasswordSource, error) {
	return s.user, s.password, s.err
}

// countedSource is a fixed password that counts how often it was asked for, and may
// require TLS.
type countedSource struct {
	password string
	tlsOnly  bool
	asked    atomic.Int32
}

func (c *countedSource) Password(context.Context) (string, error) {
	c.asked.Add(1)
	return c.password, nil
}

func (c *countedSource) RequiresTLS() bool { return c.tlsOnly }

func whoAmI(t *testing.T, conn *pgx.Conn) (current, session string) {
	t.Helper()
	if err := conn.QueryRow(t.Context(), "select current_user, session_user").Scan(&current, &session); err != nil {
		t.Fatal(err)
	}
	return current, session
}

// TestUpstreamLoginChosen: a session whose inspector chooses a login runs upstream as that
// user (with its password), not as the target's user; other sessions keep the target's.
func TestUpstreamLoginChosen(t *testing.T) {
	pg := sharedPostgres(t)
	if err := pg.Exec(t.Context(), "drop role if exists login_chosen; create role login_chosen login password 'chosen-pw';"); err != nil {
		t.Fatal(err)
	}
	src := &countedSource{password: "chosen-pw"}
	insp := &loginInspector{user: "login_chosen", password: src}
	p := startProxy(t, pg, func(c *Config) { c.Inspector = insp })
	if cur, sess := whoAmI(t, p.connect(t)); cur != "login_chosen" || sess != "login_chosen" {
		t.Fatalf("chosen login runs as current_user %q, session_user %q", cur, sess)
	}
	if n := src.asked.Load(); n != 1 {
		t.Fatalf("the chosen password source was asked %d times for one session", n)
	}
	if !strings.Contains(p.logs.String(), "upstream_user=login_chosen") {
		t.Errorf("the session log does not name the upstream user:\n%s", p.logs.String())
	}

	plain := startProxy(t, pg, func(c *Config) { c.Inspector = &testInspector{} })
	if cur, _ := whoAmI(t, plain.connect(t)); cur != "postgres" {
		t.Fatalf("an inspector that chooses nothing runs as %q, want the target's user", cur)
	}
}

// TestUpstreamLoginRefused: a chooser's error, or no user at all, refuses the session with
// FATAL (28000 unless the error says otherwise), reaches the inspector's Close, and never
// falls back to the target's own login.
func TestUpstreamLoginRefused(t *testing.T) {
	pg := sharedPostgres(t)
	cases := []struct {
		name     string
		insp     *loginInspector
		code     string
		contains string
	}{
		{"error", &loginInspector{err: errors.New("identity ci@example matches no database login")}, CodeInvalidAuthorization, "ci@example matches no database login"},
		{"*Error", &loginInspector{err: &Error{Code: CodeUnableToConnect, Message: "role admin unreachable"}}, CodeUnableToConnect, "role admin unreachable"},
		{"empty user", &loginInspector{}, CodeInvalidAuthorization, "no database user was chosen"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := startProxy(t, pg, func(cfg *Config) { cfg.Inspector = c.insp })
			_, err := pgx.Connect(t.Context(), p.connString("postgres", "disable"))
			pgErr, ok := errors.AsType[*pgconn.PgError](err)
			if !ok || pgErr.Severity != "FATAL" || pgErr.Code != c.code || !strings.Contains(pgErr.Message, c.contains) {
				t.Fatalf("connect: %v; want FATAL %s containing %q", err, c.code, c.contains)
			}
			c.insp.mu.Lock()
			defer c.insp.mu.Unlock()
			if len(c.insp.closed) != 1 || c.insp.closed[0] == nil {
				t.Fatalf("inspector Close calls: %v; want one, with the refusal", c.insp.closed)
			}
			if p.Sessions() != 0 {
				t.Fatalf("%d sessions after a refused login", p.Sessions())
			}
		})
	}
}

// TestTLSRequirerNeedsTLS: a password source that requires TLS is never asked for its
// secret on a target whose TLS mode is disable, whether it is the target's own or a chosen
// one; over TLS it is used.
func TestTLSRequirerNeedsTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	cert, key := ca.issue(t, dir, "server")
	pg := testenv.Postgres(t, pglocal.Options{HostAuth: "scram-sha-256", SSLCertFile: cert, SSLKeyFile: key})
	if err := pg.Exec(t.Context(), "create role token_user login password 'token-pw';"); err != nil {
		t.Fatal(err)
	}
	refused := func(p *testProxy, src *countedSource) {
		t.Helper()
		_, err := pgx.Connect(t.Context(), p.connString("postgres", "disable"))
		pgErr, ok := errors.AsType[*pgconn.PgError](err)
		if !ok || pgErr.Code != CodeUnableToConnect || !strings.Contains(pgErr.Message, "must only be sent over TLS") {
			t.Fatalf("connect: %v; want 08001 saying the credentials need TLS", err)
		}
		if n := src.asked.Load(); n != 0 {
			t.Fatalf("the TLS-only source was asked %d times on a plaintext target", n)
		}
	}

	own := &countedSource{password: "token-pw", tlsOnly: true}
	refused(startProxy(t, pg, func(c *Config) { c.Targets[0].User, c.Targets[0].Password = "token_user", own }), own)
	chosen := &countedSource{password: "token-pw", tlsOnly: true}
	refused(startProxy(t, pg, func(c *Config) { c.Inspector = &loginInspector{user: "token_user", password: chosen} }), chosen)

	p := startProxy(t, pg, func(c *Config) {
		c.Targets[0].TLS, c.Targets[0].CAFile = TLSVerifyFull, ca.file
		c.Inspector = &loginInspector{user: "token_user", password: chosen}
	})
	conn := p.connect(t)
	if cur, _ := whoAmI(t, conn); cur != "token_user" {
		t.Fatalf("over TLS the chosen login runs as %q", cur)
	}
	var ssl bool
	if err := conn.QueryRow(t.Context(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
		t.Fatalf("upstream ssl = %v, %v", ssl, err)
	}
	if n := chosen.asked.Load(); n != 1 {
		t.Fatalf("the TLS-only source was asked %d times over TLS, want 1", n)
	}
}

// TestConnConfigTLSModes: ConnConfig reads the zero TLS mode as verify-full (a Target built
// by hand for an admin connection must not end up with libpq's plaintext-tolerant default)
// and rejects modes the proxy does not support. A nil password source is no password, not
// the agent's PGPASSWORD.
func TestConnConfigTLSModes(t *testing.T) {
	t.Setenv("PGPASSWORD", "meant-for-another-connection")
	tg := Target{Name: "t", Host: "db.example", Port: 5432}
	cfg, err := tg.ConnConfig(t.Context(), "u", nil, "d")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSConfig == nil || cfg.TLSConfig.InsecureSkipVerify || cfg.TLSConfig.ServerName != "db.example" || len(cfg.Fallbacks) != 0 {
		t.Fatalf("zero TLS mode: TLS config %+v, fallbacks %d; want verify-full and no plaintext fallback", cfg.TLSConfig, len(cfg.Fallbacks))
	}
	if cfg.User != "u" || cfg.Database != "d" || cfg.Password != "" {
		t.Fatalf("user %q database %q password set %v", cfg.User, cfg.Database, cfg.Password != "")
	}
	tg.TLS = "prefer"
	if _, err := tg.ConnConfig(t.Context(), "u", nil, "d"); err == nil || !strings.Contains(err.Error(), `unknown TLS mode "prefer"`) {
		t.Fatalf("prefer: %v", err)
	}
}
