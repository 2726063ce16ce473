package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/testenv"
)

// The test binary doubles as an unmodified pgx client started inside an enforced cgroup:
// the kernel redirects by the connecting process's cgroup, so the client must be a process
// born there.
const clientEnv = "SLUICE_E2E_PGX_SCENARIO"

// badStatementEnv names the statement a scenario expects to fail: one sluice denies when
// run through sluice, one the server itself rejects when run directly, so a test can
// compare sluice's failure behaviour with PostgreSQL's own.
const badStatementEnv = "SLUICE_E2E_BAD_STATEMENT"

// mptcpEnv set to 1 makes the client connect with a Multipath TCP socket, as Go programs
// do that turn it on (net.Dialer.SetMultipathTCP).
const mptcpEnv = "SLUICE_E2E_MPTCP"

// pgxScenarios are the client programs; each prints one line per step: "ok VALUE" or
// "err SQLSTATE".
var pgxScenarios = map[string]func(ctx context.Context, c *pgx.Conn) []string{
	// extended: a denied statement in the extended protocol, the session after it, and a
	// pipeline (one implicit transaction) with a denied statement in the middle.
	"extended": func(ctx context.Context, c *pgx.Conn) []string {
		bad := os.Getenv(badStatementEnv)
		var out []string
		_, err := c.Exec(ctx, bad)
		out = append(out, result("drop", nil, err))
		var n int
		err = c.QueryRow(ctx, "select $1::int + 1", 41).Scan(&n)
		out = append(out, result("select", n, err))
		b := &pgx.Batch{}
		b.Queue("insert into guarded values ($1)", 1)
		b.Queue(bad)
		b.Queue("select count(*) from guarded")
		br := c.SendBatch(ctx, b)
		_, err = br.Exec()
		out = append(out, result("batch-insert", nil, err))
		_, err = br.Exec()
		out = append(out, result("batch-drop", nil, err))
		err = br.QueryRow().Scan(&n)
		out = append(out, result("batch-count", n, err))
		br.Close()
		err = c.QueryRow(ctx, "select count(*) from guarded").Scan(&n)
		out = append(out, result("count", n, err))
		return out
	},
	// whoami: whether the connection is Multipath TCP, the database's user, and a
	// statement sluice denies.
	"whoami": func(ctx context.Context, c *pgx.Conn) []string {
		tcp, ok := c.PgConn().Conn().(*net.TCPConn)
		if !ok {
			return []string{fmt.Sprintf("mptcp err the connection is a %T", c.PgConn().Conn())}
		}
		mptcp, err := tcp.MultipathTCP()
		out := []string{result("mptcp", mptcp, err)}
		var user string
		err = c.QueryRow(ctx, "select current_user").Scan(&user)
		out = append(out, result("user", user, err))
		_, err = c.Exec(ctx, os.Getenv(badStatementEnv))
		return append(out, result("bad", nil, err))
	},
}

func result(step string, v any, err error) string {
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			return step + " err " + pgErr.Code
		}
		return step + " err " + err.Error()
	}
	return fmt.Sprintf("%s ok %v", step, v)
}

func clientMain(scenario string) int {
	run, ok := pgxScenarios[scenario]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown scenario", scenario)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(os.Getenv("SLUICE_E2E_DSN"))
	if err != nil {
		fmt.Println("config err", err)
		return 1
	}
	// Unnamed Parse/Bind/Execute per statement, batches pipelined before one Sync.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if os.Getenv(mptcpEnv) == "1" {
		d := &net.Dialer{}
		d.SetMultipathTCP(true)
		cfg.DialFunc = d.DialContext
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Println("connect err", err)
		return 1
	}
	defer c.Close(ctx)
	for _, line := range run(ctx, c) {
		fmt.Println(line)
	}
	return 0
}

// pgxClient runs a scenario in cgroup cg against the address workloads use, with bad as
// the statement expected to fail and env added to the client's environment. With cg empty
// it runs in the test's own cgroup and connects directly as the agent's role, for
// comparison with PostgreSQL's own behaviour.
func (w *world) pgxClient(cg, scenario, bad string, env ...string) []string {
	w.t.Helper()
	cmd := exec.Command(os.Args[0])
	dsn := "postgres://workload:" + workloadPassword + "@" + w.dbAddr + "/app?sslmode=disable"
	if cg == "" {
		dsn = "postgres://sluice_app:" + agentPassword + "@" + w.dbAddr + "/app?sslmode=disable"
	}
	cmd.Env = append(os.Environ(), clientEnv+"="+scenario, badStatementEnv+"="+bad, "SLUICE_E2E_DSN="+dsn)
	cmd.Env = append(cmd.Env, env...)
	var out []byte
	var err error
	if cg == "" {
		out, err = cmd.CombinedOutput()
	} else {
		out, err = testenv.Output(cg, cmd)
	}
	if err != nil {
		w.t.Fatalf("pgx client: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
