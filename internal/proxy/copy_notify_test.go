package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestCopyFrom loads rows with pgx's CopyFrom (binary COPY FROM STDIN) through the proxy.
func TestCopyFrom(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "create temp table c(i int8, s text, b bytea)"); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	n2, err := conn.CopyFrom(ctx, pgx.Identifier{"c"}, []string{"i", "s", "b"}, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		return []any{int64(i), fmt.Sprint("row ", i), []byte{byte(i), byte(i >> 8)}}, nil
	}))
	if err != nil || n2 != n {
		t.Fatalf("CopyFrom = %d, %v", n2, err)
	}
	var count, sum int64
	if err := conn.QueryRow(ctx, "select count(*), sum(i + length(s) + get_byte(b, 1)) from c").Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range int64(n) {
		want += i + int64(len(fmt.Sprint("row ", i))) + (i>>8)&0xff
	}
	if count != n || sum != want {
		t.Fatalf("count, sum = %d, %d; want %d, %d", count, sum, n, want)
	}
}

// TestCopyToLarge streams a COPY TO STDOUT of about 100 MB through the proxy and compares
// its digest with the same COPY run directly.
func TestCopyToLarge(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	const sql = "copy (select g, repeat(md5(g::text), 3) from generate_series(1, 1000000) g) to stdout"
	digest := func(conn *pgx.Conn) (string, int64) {
		h := testenv.NewDigest()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if _, err := conn.PgConn().CopyTo(ctx, h, sql); err != nil {
			t.Fatal(err)
		}
		return h.Sum(), h.N
	}
	got, size := digest(p.connect(t))
	want, _ := digest(p.direct(t))
	if got != want || size < 100e6 {
		t.Fatalf("COPY TO via proxy: %d bytes, sha256 %s; direct sha256 %s", size, got, want)
	}
}

// TestListenNotifyNoticeParameterStatus checks the asynchronous server messages:
// notifications from another session, notices, and ParameterStatus after SET.
func TestListenNotifyNoticeParameterStatus(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	ctx := t.Context()
	var notices []string
	cfg, err := pgx.ParseConfig(p.connString("postgres", "disable"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { notices = append(notices, n.Message) }
	listener, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close(context.Background())
	notifier := p.connect(t)

	if _, err := listener.Exec(ctx, "listen sluice_chan"); err != nil {
		t.Fatal(err)
	}
	if _, err := notifier.Exec(ctx, "select pg_notify('sluice_chan', 'hello ' || g) from generate_series(1, 3) g"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := listener.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if n.Channel != "sluice_chan" || n.Payload != fmt.Sprint("hello ", i) {
			t.Fatalf("notification %d = %+v", i, n)
		}
		if n.PID == listener.PgConn().PID() || n.PID == notifier.PgConn().PID() {
			t.Fatalf("another session's notification carries a process id sluice issued: %+v", n)
		}
	}
	// The session's own notification carries the process id the client was given, as
	// libpq and pgx expect; the id is above any real pid and positive as an int32.
	if _, err := listener.Exec(ctx, "notify sluice_chan, 'own'"); err != nil {
		t.Fatal(err)
	}
	own, err := listener.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pid := listener.PgConn().PID(); own.PID != pid || pid < 1<<22 || pid >= 1<<31 {
		t.Fatalf("own notification from pid %d, the client's pid is %d", own.PID, pid)
	}

	if _, err := listener.Exec(ctx, "do $$ begin raise notice 'careful: %', 42; end $$"); err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || notices[0] != "careful: 42" {
		t.Fatalf("notices = %q", notices)
	}

	if _, err := listener.Exec(ctx, "set application_name = 'via-sluice'"); err != nil {
		t.Fatal(err)
	}
	if got := listener.PgConn().ParameterStatus("application_name"); got != "via-sluice" {
		t.Fatalf("application_name ParameterStatus = %q", got)
	}
	if got := listener.PgConn().ParameterStatus("server_version"); got == "" {
		t.Fatal("no server_version ParameterStatus at startup")
	}
}
