package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/testenv"
)

// Issue 3, acceptance 1 and 2, through the real agent and the real redirect: pgx in an
// enforced cgroup dials the database's own address, the kernel hands the connection to the
// agent's proxy, and what pgx gets back must be what it gets from PostgreSQL directly.

// outsideDSNEnv is a connection string over the database's unix socket, which no redirect
// touches: a session that is never behind sluice, whichever cgroup the client runs in.
const outsideDSNEnv = "SLUICE_E2E_OUTSIDE_DSN"

func init() {
	pgxScenarios["pgx-protocols"] = pgxProtocols
	pgxScenarios["pgx-copy"] = pgxCopy
	pgxScenarios["pgx-notify"] = pgxNotify
	pgxScenarios["pgx-bytea"] = pgxBytea
	pgxScenarios["pgx-cancel"] = pgxCancel
}

// TestPgxThroughRedirectSameAsDirect runs each scenario directly against PostgreSQL (as the
// agent's role, from the test's own cgroup) and through sluice (as "workload", from an
// enforced cgroup), and requires the same lines from both, apart from the first, which
// proves which path the session took.
func TestPgxThroughRedirectSameAsDirect(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	for _, sc := range []struct {
		name string
		want []string // lines both runs must print, so that two equal failures do not pass
	}{
		{"pgx-protocols", []string{
			"modes-agree ok true", "batch-cache_statement-select ok 100", "batch-simple_protocol-count ok 500",
			"batch-exec-one ok ECCBC87E4B5CE2FE28308FD9F2A7BAF3", "failing-batch-exec-div err 22012", "multi-result ok 5",
		}},
		{"pgx-copy", []string{"copy-from ok 200000", "copy-from-text ok 50000", "copy-out-100mb ok true"}},
		{"pgx-notify", []string{
			"listen ok <nil>", "notify-3 ok sluice_e2e|hello 3", "notify-outside ok sluice_e2e|from outside",
			"notify-big ok sluice_e2e|7998 bytes", "notify-in-transaction ok sluice_e2e|during transaction",
			"notify-own ok sluice_e2e|own", "after-unlisten ok none",
		}},
		{"pgx-bytea", []string{"insert ok 1", "length ok 67108864", "same-binary ok true", "same-text ok true"}},
		{"pgx-cancel", []string{"cancel err 57014", "cancel-time ok under 1s", "after-cancel ok 1", "still-running ok 0"}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			start := time.Now()
			direct := w.pgxRun(t, "", sc.name)
			mid := time.Now()
			via := w.pgxRun(t, cg, sc.name)
			t.Logf("direct %v, through sluice %v", mid.Sub(start).Round(time.Millisecond), time.Since(mid).Round(time.Millisecond))
			if direct[0] != "session user=sluice_app proxied=false" || via[0] != "session user=sluice_app proxied=true" {
				t.Fatalf("sessions: direct %q, through sluice %q; want the agent's role on both, proxied only the second", direct[0], via[0])
			}
			if !slices.Equal(via[1:], direct[1:]) {
				t.Errorf("through sluice:\n%s\nwant, as directly:\n%s", strings.Join(via[1:], "\n"), strings.Join(direct[1:], "\n"))
			}
			for _, line := range sc.want {
				if !slices.Contains(via, line) {
					t.Errorf("through sluice: no line %q", line)
				}
				if !slices.Contains(direct, line) {
					t.Errorf("directly: no line %q", line)
				}
			}
		})
	}

	// The 64 MiB parameter is recorded by its first bytes, size and hash, not whole.
	var found bool
	for _, st := range w.auditStatements() {
		if st.Text != "insert into big values (1, $1)" || len(st.Parameters) != 1 {
			continue
		}
		found = true
		p := st.Parameters[0]
		raw, err := base64.StdEncoding.DecodeString(p.Value)
		if !p.Binary || err != nil || len(raw) != guard.DefaultMaxParameterBytes || p.Size != 64<<20 || len(p.SHA256) != 64 {
			t.Errorf("bytea parameter recorded as binary=%v, %d bytes kept (%v), size %d, sha256 %q; want its first %d bytes, size %d and a hash",
				p.Binary, len(raw), err, p.Size, p.SHA256, guard.DefaultMaxParameterBytes, 64<<20)
		}
	}
	if !found {
		t.Error("no statement record for the bytea insert")
	}
}

// pgxRun runs a scenario in cgroup cg as "workload", which only the redirect turns into the
// agent's role, or with cg empty directly as the agent's role. It returns what the scenario
// printed on stdout and logs its stderr.
func (w *world) pgxRun(t *testing.T, cg, scenario string) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	dsn := "postgres://workload:" + workloadPassword + "@" + w.dbAddr + "/app?sslmode=disable"
	if cg == "" {
		dsn = "postgres://sluice_app:" + agentPassword + "@" + w.dbAddr + "/app?sslmode=disable"
	}
	cmd.Env = append(os.Environ(), clientEnv+"="+scenario, "SLUICE_E2E_DSN="+dsn,
		outsideDSNEnv+"="+w.db.SocketConnString("sluice_app", "app"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var err error
	if cg == "" {
		err = cmd.Start()
	} else {
		err = cgroup.StartIn(cg, cmd)
	}
	if err == nil {
		err = cmd.Wait()
	}
	if stderr.Len() > 0 {
		t.Logf("pgx client (%q) stderr:\n%s", cg, stderr.String())
	}
	if err != nil {
		t.Fatalf("pgx client (%q): %v\n%s", cg, err, stdout.String())
	}
	return strings.Split(strings.TrimSpace(stdout.String()), "\n")
}

// sessionLine says whose session c is and whether a proxy stands between: the process id
// pgx was given differs from the server's own only when sluice issued it.
func sessionLine(ctx context.Context, c *pgx.Conn) string {
	var user string
	var pid uint32
	if err := c.QueryRow(ctx, "select current_user, pg_backend_pid()").Scan(&user, &pid); err != nil {
		return result("session", nil, err)
	}
	return fmt.Sprintf("session user=%s proxied=%t", user, pid != c.PgConn().PID())
}

// connectMode opens another session like the scenario's own (same path), in mode.
func connectMode(ctx context.Context, mode pgx.QueryExecMode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(os.Getenv("SLUICE_E2E_DSN"))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = mode
	return pgx.ConnectConfig(ctx, cfg)
}

// typedRowsSQL returns $1 rows of many types, NULLs and non-ASCII text included.
const typedRowsSQL = `select g, md5(g::text), g::numeric / 7, array[g, -g], g % 3 = 0,
	date '2024-01-01' + g, decode(md5(g::text), 'hex'), nullif(g % 5, 0), 'ünïcödé ' || g,
	interval '1 minute' * g, jsonb_build_object('g', g, 'odd', g % 2 = 1)
	from generate_series(1, $1::int) g`

// allModes are pgx's ways to run a query: named prepared statements, unnamed ones described
// first or not, and the simple protocol with parameters interpolated by pgx.
var allModes = []pgx.QueryExecMode{
	pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec,
	pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol,
}

// pgxProtocols reads typed rows in every query mode (named and unnamed prepared statements,
// the simple protocol), runs batches (pipelined in the extended protocol, one multi-statement
// Query in the simple one), a batch failing in the middle, and a multi-statement Query.
func pgxProtocols(ctx context.Context, c *pgx.Conn) []string {
	out := []string{sessionLine(ctx, c)}
	var digests []string
	for _, mode := range allModes {
		rows, err := c.Query(ctx, typedRowsSQL, mode, 2000)
		d, n, err := digestRows(rows, err)
		out = append(out, result("rows-"+strings.ReplaceAll(mode.String(), " ", "_"), fmt.Sprintf("%d %s", n, d), err))
		digests = append(digests, d)
	}
	agree := digests[0] != "" && len(slices.Compact(digests)) == 1
	out = append(out, result("modes-agree", agree, nil))

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		out = append(out, batchRun(ctx, mode)...)
	}

	rr := c.PgConn().Exec(ctx, "select 1; select 'two', 2.5; create temp table m(i int); insert into m values (1), (2); select * from m order by i")
	res, err := rr.ReadAll()
	var parts []string
	for _, r := range res {
		parts = append(parts, fmt.Sprintf("%s:%q", r.CommandTag, r.Rows))
	}
	out = append(out, result("multi", strings.Join(parts, " "), err))
	out = append(out, result("multi-result", len(res), err))
	return out
}

// batchRun runs, on a session of its own in mode, a batch that succeeds and one that fails
// in its second statement.
func batchRun(ctx context.Context, mode pgx.QueryExecMode) []string {
	name := "batch-" + strings.ReplaceAll(mode.String(), " ", "_")
	c, err := connectMode(ctx, mode)
	if err != nil {
		return []string{result(name+"-connect", nil, err)}
	}
	defer c.Close(ctx)
	// Not in the batch: the cached modes prepare every statement of a batch before running any.
	_, err = c.Exec(ctx, "create temp table bt(i int, s text)")
	out := []string{result(name+"-create", nil, err)}
	b := &pgx.Batch{}
	b.Queue("insert into bt select g, md5(g::text) from generate_series(1, $1::int) g", 500)
	b.Queue("update bt set s = upper(s) where i <= $1", 10)
	b.Queue("select count(*), md5(string_agg(s, ',' order by i)) from bt")
	b.Queue(typedRowsSQL, 100)
	b.Queue("select s from bt where i = $1", 3)
	br := c.SendBatch(ctx, b)
	for _, step := range []string{"insert", "update"} {
		tag, err := br.Exec()
		out = append(out, result(name+"-"+step, tag.String(), err))
	}
	var count int
	var sum string
	err = br.QueryRow().Scan(&count, &sum)
	out = append(out, result(name+"-count", count, err), result(name+"-sum", sum, err))
	rows, err := br.Query()
	d, n, err := digestRows(rows, err)
	out = append(out, result(name+"-select", n, err), result(name+"-digest", d, err))
	var s string
	err = br.QueryRow().Scan(&s)
	out = append(out, result(name+"-one", s, err), result(name+"-close", nil, br.Close()))

	name = "failing-" + name
	b = &pgx.Batch{}
	b.Queue("insert into bt values ($1, 'x')", 1000)
	b.Queue("select 1 / ($1::int - 1)", 1)
	b.Queue("insert into bt values ($1, 'y')", 1001)
	br = c.SendBatch(ctx, b)
	_, err = br.Exec()
	out = append(out, result(name+"-first", nil, err))
	var q int
	err = br.QueryRow().Scan(&q)
	out = append(out, result(name+"-div", q, err))
	_, err = br.Exec()
	out = append(out, result(name+"-third", nil, err), result(name+"-close", nil, br.Close()))
	err = c.QueryRow(ctx, "select count(*) from bt where i >= 1000").Scan(&count)
	out = append(out, result(name+"-after", count, err))
	return out
}

// digestRows reads rows to the end and returns a digest of their field types and decoded
// values, and their number.
func digestRows(rows pgx.Rows, err error) (string, int, error) {
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	h := sha256.New()
	for _, f := range rows.FieldDescriptions() {
		fmt.Fprintf(h, "%s:%d ", f.Name, f.DataTypeOID)
	}
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return "", n, err
		}
		for _, v := range vals {
			fmt.Fprintf(h, "|%s", valueText(v))
		}
		h.Write([]byte("\n"))
		n++
	}
	return fmt.Sprintf("%x", h.Sum(nil)), n, rows.Err()
}

// valueText prints a decoded value; pgtype values print through their driver.Value, as
// %v would print their pointers' addresses.
func valueText(v any) string {
	switch x := v.(type) {
	case driver.Valuer:
		dv, err := x.Value()
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%T %v", dv, dv)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueText(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T %v", v, v)
}

// copyOutSQL streams about 105 MB of text.
const copyOutSQL = "copy (select g, repeat(md5(g::text), 3) from generate_series(1, 1000000) g) to stdout"

// pgxCopy loads rows with CopyFrom (binary COPY FROM STDIN) and a text COPY FROM STDIN,
// checks what arrived, and digests a binary COPY TO and a 100 MB text COPY TO STDOUT.
func pgxCopy(ctx context.Context, c *pgx.Conn) []string {
	out := []string{sessionLine(ctx, c)}
	_, err := c.Exec(ctx, "create temp table copied(i int8, s text, n numeric, b bytea, t timestamptz)")
	out = append(out, result("create", nil, err))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	n, err := c.CopyFrom(ctx, pgx.Identifier{"copied"}, []string{"i", "s", "n", "b", "t"},
		pgx.CopyFromSlice(200_000, func(i int) ([]any, error) {
			return []any{int64(i), fmt.Sprintf("row %d ünï\t\\", i), float64(i) / 4,
				[]byte{byte(i), byte(i >> 8), 0, 0xff}, base.Add(time.Duration(i) * time.Second)}, nil
		}))
	out = append(out, result("copy-from", n, err))
	out = append(out, tableDigest(ctx, c, "copied", "copy-from-digest"))

	_, err = c.Exec(ctx, "create temp table copied_text(i int8, s text)")
	out = append(out, result("create-text", nil, err))
	var text strings.Builder
	for i := range 50_000 {
		fmt.Fprintf(&text, "%d\tline %d with a \\\\ backslash and ü\n", i, i)
	}
	tag, err := c.PgConn().CopyFrom(ctx, strings.NewReader(text.String()), "copy copied_text from stdin")
	out = append(out, result("copy-from-text", tag.RowsAffected(), err))
	out = append(out, tableDigest(ctx, c, "copied_text", "copy-from-text-digest"))

	size, sum, err := copyDigest(ctx, c, "copy copied to stdout (format binary)")
	out = append(out, result("copy-out-binary", fmt.Sprintf("%d %s", size, sum), err))
	start := time.Now()
	size, sum, err = copyDigest(ctx, c, copyOutSQL)
	fmt.Fprintf(os.Stderr, "COPY TO STDOUT of %d bytes in %v\n", size, time.Since(start).Round(time.Millisecond))
	out = append(out, result("copy-out", fmt.Sprintf("%d %s", size, sum), err))
	out = append(out, result("copy-out-100mb", size >= 100e6, err))
	return out
}

// tableDigest asks the server for a digest of a table's rows, in order.
func tableDigest(ctx context.Context, c *pgx.Conn, table, step string) string {
	var n int
	var sum string
	err := c.QueryRow(ctx, "select count(*), md5(string_agg(t::text, E'\\n' order by i)) from "+table+" t").Scan(&n, &sum)
	return result(step, fmt.Sprintf("%d %s", n, sum), err)
}

// copyDigest runs a COPY TO STDOUT and returns the size and sha256 of what it sent.
func copyDigest(ctx context.Context, c *pgx.Conn, sql string) (int64, string, error) {
	h := testenv.NewDigest()
	_, err := c.PgConn().CopyTo(ctx, h, sql)
	return h.N, h.Sum(), err
}

// pgxNotify listens on the scenario's session and receives notifications from another
// session on the same path, from one never behind sluice (the unix socket), with a payload
// near PostgreSQL's limit, while in a transaction, and from itself; after UNLISTEN, none.
func pgxNotify(ctx context.Context, c *pgx.Conn) []string {
	out := []string{sessionLine(ctx, c)}
	notifier, err := pgx.Connect(ctx, os.Getenv("SLUICE_E2E_DSN"))
	if err != nil {
		return append(out, result("notifier", nil, err))
	}
	defer notifier.Close(ctx)
	outside, err := pgx.Connect(ctx, os.Getenv(outsideDSNEnv))
	if err != nil {
		return append(out, result("outside", nil, err))
	}
	defer outside.Close(ctx)
	_, err = c.Exec(ctx, "listen sluice_e2e")
	out = append(out, result("listen", nil, err))

	wait := func(step string) string {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := c.WaitForNotification(wctx)
		if err != nil {
			return result(step, nil, err)
		}
		payload := n.Payload
		if len(payload) > 100 {
			payload = fmt.Sprintf("%d bytes", len(payload))
			if n.Payload != bigPayload {
				payload += " (different)"
			}
		}
		return result(step, n.Channel+"|"+payload, nil)
	}
	_, err = notifier.Exec(ctx, "select pg_notify('sluice_e2e', 'hello ' || g) from generate_series(1, 3) g")
	out = append(out, result("notify-send", nil, err))
	for i := 1; i <= 3; i++ {
		out = append(out, wait(fmt.Sprint("notify-", i)))
	}
	_, err = outside.Exec(ctx, "notify sluice_e2e, 'from outside'")
	out = append(out, result("notify-outside-send", nil, err), wait("notify-outside"))
	_, err = notifier.Exec(ctx, "select pg_notify('sluice_e2e', $1)", bigPayload)
	out = append(out, result("notify-big-send", nil, err), wait("notify-big"))

	// Delivered when the listener's transaction ends, in the same reply as its COMMIT.
	_, err = c.Exec(ctx, "begin")
	out = append(out, result("begin", nil, err))
	_, err = notifier.Exec(ctx, "notify sluice_e2e, 'during transaction'")
	out = append(out, result("notify-in-transaction-send", nil, err))
	_, err = c.Exec(ctx, "commit")
	out = append(out, result("commit", nil, err), wait("notify-in-transaction"))

	_, err = c.Exec(ctx, "notify sluice_e2e, 'own'")
	out = append(out, result("notify-own-send", nil, err), wait("notify-own"))

	_, err = c.Exec(ctx, "unlisten sluice_e2e")
	out = append(out, result("unlisten", nil, err))
	_, err = notifier.Exec(ctx, "notify sluice_e2e, 'after unlisten'")
	out = append(out, result("notify-after-unlisten-send", nil, err))
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	n, err := c.WaitForNotification(wctx)
	cancel()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		out = append(out, result("after-unlisten", "none", nil))
	case err != nil:
		out = append(out, result("after-unlisten", nil, err))
	default:
		out = append(out, result("after-unlisten", n.Payload, nil))
	}
	return out
}

// bigPayload is 7998 bytes of two-byte characters, just under PostgreSQL's 8000.
var bigPayload = strings.Repeat("ü", 3999)

// byteaSize is the 64 MiB row of the acceptance.
const byteaSize = 64 << 20

// pgxBytea inserts 64 MiB of incompressible bytes as a bind parameter and reads them back,
// both in binary format: pgx's default mode (a prepared statement, described first) binds
// and reads bytea in binary. It reads them once more as hex text with the simple protocol.
func pgxBytea(ctx context.Context, c *pgx.Conn) []string {
	out := []string{sessionLine(ctx, c)}
	src := make([]byte, byteaSize)
	_, _ = rand.NewChaCha8([32]byte{'s', 'l', 'u', 'i', 'c', 'e'}).Read(src) // never fails
	want := sha256.Sum256(src)
	out = append(out, result("source", fmt.Sprintf("%x", want), nil))
	_, err := c.Exec(ctx, "create temp table big(id int, b bytea)")
	out = append(out, result("create", nil, err))
	step := time.Now()
	tag, err := c.Exec(ctx, "insert into big values (1, $1)", pgx.QueryExecModeCacheStatement, src)
	fmt.Fprintf(os.Stderr, "insert %v\n", time.Since(step).Round(time.Millisecond))
	out = append(out, result("insert", tag.RowsAffected(), err))

	var back, serverSum []byte
	var length int
	step = time.Now()
	err = c.QueryRow(ctx, "select b, sha256(b), length(b) from big where id = 1", pgx.QueryExecModeCacheStatement).Scan(&back, &serverSum, &length)
	fmt.Fprintf(os.Stderr, "select (binary) %v\n", time.Since(step).Round(time.Millisecond))
	out = append(out, result("length", length, err), result("server-sha256", fmt.Sprintf("%x", serverSum), err))
	got := sha256.Sum256(back)
	out = append(out, result("same-binary", got == want && bytes.Equal(serverSum, want[:]), err))

	step = time.Now()
	err = c.QueryRow(ctx, "select b from big where id = 1", pgx.QueryExecModeSimpleProtocol).Scan(&back)
	fmt.Fprintf(os.Stderr, "select (text) %v\n", time.Since(step).Round(time.Millisecond))
	got = sha256.Sum256(back)
	out = append(out, result("same-text", got == want && len(back) == byteaSize, err))
	return out
}

// pgxCancel cancels a pg_sleep(60) through its context; pgx is set up to send a cancel
// request (to the address it connected to, which the kernel redirects again) rather than
// just drop the connection, so the session must survive with the statement ended.
func pgxCancel(ctx context.Context, _ *pgx.Conn) []string {
	cfg, err := pgx.ParseConfig(os.Getenv("SLUICE_E2E_DSN"))
	if err != nil {
		return []string{result("config", nil, err)}
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return []string{result("connect", nil, err)}
	}
	defer c.Close(ctx)
	out := []string{sessionLine(ctx, c)}

	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.Exec(sctx, "select pg_sleep(60)")
	elapsed := time.Since(deadline(sctx))
	fmt.Fprintf(os.Stderr, "pg_sleep(60) ended %v after its context\n", elapsed.Round(time.Millisecond))
	out = append(out, result("cancel", nil, err))
	if elapsed < time.Second {
		out = append(out, result("cancel-time", "under 1s", nil))
	} else {
		out = append(out, result("cancel-time", nil, errors.New("took "+elapsed.Round(time.Millisecond).String())))
	}
	var n int
	err = c.QueryRow(ctx, "select 1").Scan(&n)
	out = append(out, result("after-cancel", n, err))
	err = c.QueryRow(ctx, "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'").Scan(&n)
	out = append(out, result("still-running", n, err))
	return out
}

// deadline is ctx's deadline, which the caller set.
func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
