package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// superPassword is the upstream superuser's password; the proxy reads it from a file.
const superPassword = "proxy-test-secret"

// testDest is the original destination the clients in these tests "dialled": the static
// origin lookup reports it for every connection to a test proxy listener.
var testDest = netip.MustParseAddrPort("10.0.0.5:5432")

// testCgroup is the cgroup id the static origin lookup reports.
const testCgroup = 4242

var shared testenv.SharedPostgres

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }

// sharedPostgres returns the package's PostgreSQL (SCRAM over TCP, superuser password
// superPassword), started on first use: most tests need one, none needs its own.
func sharedPostgres(t testing.TB) *pglocal.Server {
	t.Helper()
	return shared.Get(t, pglocal.Options{
		HostAuth:          "scram-sha-256",
		SuperuserPassword: superPassword,
		Settings:          []pglocal.Setting{{Name: "max_connections", Value: "300"}},
	}, nil)
}

// listenerOrigins stands in for the kernel: connections to a registered proxy listener
// address have that origin, all others have none.
type listenerOrigins struct {
	mu sync.Mutex
	m  map[netip.AddrPort]origin.Origin
}

func (o *listenerOrigins) Lookup(_, local netip.AddrPort) (origin.Origin, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if org, ok := o.m[local]; ok {
		return org, nil
	}
	return origin.Origin{}, origin.ErrNotFound
}

func (o *listenerOrigins) set(local netip.AddrPort, org origin.Origin) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[local] = org
}

func (o *listenerOrigins) get(local netip.AddrPort) origin.Origin {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[local]
}

// testProxy is a Server on a loopback listener in front of a PostgreSQL.
type testProxy struct {
	*Server
	pg   *pglocal.Server
	addr netip.AddrPort
	logs *testenv.SyncBuffer
}

// startProxy starts a proxy in front of pg whose single target accepts testDest; edit
// adjusts the configuration first (nil: none). The proxy is shut down at cleanup.
func startProxy(t testing.TB, pg *pglocal.Server, edit func(*Config)) *testProxy {
	t.Helper()
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(superPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	logs := &testenv.SyncBuffer{}
	cfg := Config{
		Targets: []Target{{
			Name:         "test",
			Destinations: []Destination{{Prefix: netip.PrefixFrom(testDest.Addr(), 32), Port: testDest.Port()}},
			Host:         pg.Host,
			Port:         uint16(pg.Port),
			User:         "postgres",
			Password:     PasswordFile(pwFile),
			TLS:          TLSDisable,
		}},
		Origins: &listenerOrigins{m: map[netip.AddrPort]origin.Origin{
			addr: {Dest: testDest, CgroupID: testCgroup, PID: 1, Mode: origin.ModeEnforce},
		}},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs.String())
		}
	})
	return &testProxy{Server: srv, pg: pg, addr: addr, logs: logs}
}

// connString is a libpq URL to the proxy as client user "app" for database db.
func (p *testProxy) connString(db, sslmode string) string {
	return fmt.Sprintf("postgres://app@%s/%s?sslmode=%s", p.addr, db, sslmode)
}

// connect opens a pgx connection through the proxy, closed at cleanup.
func (p *testProxy) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	return connectTo(t, p.connString("postgres", "disable"))
}

// direct opens a pgx connection straight to the proxy's PostgreSQL, to compare with.
func (p *testProxy) direct(t testing.TB) *pgx.Conn {
	t.Helper()
	return connectTo(t, directConnString(p.pg, "postgres"))
}

func connectTo(t testing.TB, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connecting to %s: %v", connString, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// pgTool runs a PostgreSQL client program (psql, pgbench) with args and stdin, and returns
// its stdout and stderr; the error is the exit status.
func pgTool(t testing.TB, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, lookErr := exec.LookPath(name)
	if lookErr != nil {
		t.Fatalf("%s is needed for this test: %v", name, lookErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	// The password is for runs straight to PostgreSQL; the proxy never asks for one.
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10", "PGPASSWORD="+superPassword)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// directConnString is a libpq URL straight to pg as the superuser (password in the URL).
func directConnString(pg *pglocal.Server, db string) string {
	return pg.ConnString("postgres", db) + "&password=" + superPassword
}

// port returns the port of an AddrPort as a string, for command-line clients.
func port(ap netip.AddrPort) string { return strconv.Itoa(int(ap.Port())) }
