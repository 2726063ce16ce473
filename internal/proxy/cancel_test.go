package proxy

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
)

// TestCancelFromPgxContext cancels a pg_sleep(60) by cancelling the pgx context: pgx (set up
// to cancel, not just to drop the connection) sends a cancel request with the proxy's key,
// which the proxy forwards with the server's key.
func TestCancelFromPgxContext(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	cfg, err := pgx.ParseConfig(p.connString("postgres", "disable"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = conn.Exec(ctx, "select pg_sleep(60)")
	elapsed := time.Since(start)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "57014" {
		t.Fatalf("pg_sleep(60) with a 300ms context: %v, want SQLSTATE 57014", err)
	}
	if elapsed > time.Second {
		t.Fatalf("cancel took %v", elapsed)
	}
	var n int
	if err := conn.QueryRow(t.Context(), "select 1").Scan(&n); err != nil {
		t.Fatalf("session unusable after cancel: %v", err)
	}
}

// TestCancelFromPsql interrupts psql running pg_sleep(60): psql's SIGINT handler sends the
// cancel request (libpq's PQcancel) to the address it connected to, which is the proxy.
func TestCancelFromPsql(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	path, err := exec.LookPath("psql")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), path, "-X", "-d", p.connString("postgres", "disable"), "-c", "select pg_sleep(60)")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "psql's session", func() bool { return p.Sessions() == 1 })
	time.Sleep(200 * time.Millisecond) // let the query start
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("psql ended %v after SIGINT", elapsed)
	}
	if exitCode(err) != 1 || !strings.Contains(stderr.String(), "canceling statement due to user request") {
		t.Fatalf("psql: %v, stderr %q", err, stderr.String())
	}
}

// TestForgedCancelIgnored sends cancel requests with a wrong secret and an unknown process
// id: neither cancels the running statement, and the client's key is the proxy's own.
func TestForgedCancelIgnored(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	var backendPID uint32
	if err := conn.QueryRow(t.Context(), "select pg_backend_pid()").Scan(&backendPID); err != nil {
		t.Fatal(err)
	}
	pid, secret := conn.PgConn().PID(), conn.PgConn().SecretKey()
	if pid == backendPID {
		t.Fatalf("the client got the server's process id %d", pid)
	}
	wrong := append([]byte(nil), secret...)
	wrong[0] ^= 1
	forged := []*pgproto3.CancelRequest{{ProcessID: pid, SecretKey: wrong}, {ProcessID: pid + 1, SecretKey: secret}}

	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.Background(), "select pg_sleep(2)")
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	for _, req := range forged {
		sendCancel(t, p.addr.String(), req)
	}
	// The right key, sent by another workload (another cgroup), is ignored as well.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	lookup := p.cfg.Origins.(*listenerOrigins)
	other := lookup.get(p.addr)
	other.CgroupID++
	lookup.set(ln.Addr().(*net.TCPAddr).AddrPort(), other)
	sendCancel(t, ln.Addr().String(), &pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret})

	if err := <-done; err != nil {
		t.Fatalf("a forged cancel request cancelled the statement: %v", err)
	}
	logs := p.logs.String()
	if countLines(logs, "cancel request with an unknown key ignored") != 2 || countLines(logs, "cancel request from another cgroup ignored") != 1 {
		t.Fatalf("forged cancel requests not logged as such:\n%s", logs)
	}
}

// sendCancel sends one cancel request to the proxy at addr and waits until it closes it.
func sendCancel(t *testing.T, addr string, req *pgproto3.CancelRequest) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := req.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("cancel connection answered %d bytes, %v; want a plain close", n, err)
	}
}

// waitFor polls cond for up to five seconds and fails the test if it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
