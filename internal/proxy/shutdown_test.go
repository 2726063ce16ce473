package proxy

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestShutdownDrains shuts the proxy down with an idle session, one running a statement
// and one inside a transaction: the idle one ends at once with 57P01, the statement
// completes, the transaction may commit, and then Shutdown returns.
func TestShutdownDrains(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	ctx := t.Context()
	idle, busy, inTx := p.connect(t), p.connect(t), p.connect(t)
	if _, err := inTx.Exec(ctx, "begin"); err != nil {
		t.Fatal(err)
	}
	busyDone := make(chan error, 1)
	go func() {
		_, err := busy.Exec(ctx, "select pg_sleep(0.5)")
		busyDone <- err
	}()
	time.Sleep(100 * time.Millisecond)

	shutdown := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- p.Shutdown(sctx)
	}()
	waitFor(t, "the idle session to end", func() bool { return p.Sessions() <= 2 })
	if c, err := net.Dial("tcp", p.addr.String()); err == nil {
		c.Close()
		t.Fatal("the listener still accepts connections during Shutdown")
	}

	_, err := idle.Exec(ctx, "select 1")
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != CodeAdminShutdown {
		t.Fatalf("idle session after Shutdown: %v, want FATAL 57P01", err)
	}
	if err := <-busyDone; err != nil {
		t.Fatalf("statement running during Shutdown: %v", err)
	}
	if _, err := inTx.Exec(ctx, "select 1"); err != nil {
		t.Fatalf("transaction open during Shutdown: %v", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v with a transaction still open", err)
	default:
	}
	if _, err := inTx.Exec(ctx, "commit"); err != nil {
		t.Fatalf("commit during Shutdown: %v", err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if !idle.IsClosed() || p.Sessions() != 0 {
		t.Fatalf("after Shutdown: idle closed %v, %d sessions", idle.IsClosed(), p.Sessions())
	}
}

// TestShutdownDeadline shuts down with a transaction that never ends: when the context
// expires the session is aborted and Shutdown reports the context's error.
func TestShutdownDeadline(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	if _, err := conn.Exec(t.Context(), "begin"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if p.Sessions() != 0 {
		t.Fatalf("%d sessions after a forced shutdown", p.Sessions())
	}
	_, err := conn.Exec(t.Context(), "select 1", pgx.QueryExecModeSimpleProtocol)
	if err == nil {
		t.Fatal("session still usable after a forced shutdown")
	}
}
