package e2e

import (
	"os/exec"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkPgbenchSelect compares pgbench -S (8 clients, simple and prepared protocol)
// directly against PostgreSQL, through sluice (pgbench in an enforced cgroup, redirected
// by the kernel to the real agent binary, which checks the identity, decides and audits
// every statement), and through pgbouncer in session mode (testenv.ComparePgbenchSelect
// says how). The proxy CPU is the agent's with its helper processes, or pgbouncer's. TLS is
// off on every path: pgbouncer and PostgreSQL serve none here.
//
//	go test -run '^$' -bench PgbenchSelect -benchtime 1x ./test/e2e/
//
// SLUICE_BENCH_ROUNDS (default 5) and SLUICE_BENCH_SECONDS (default 3, per run) adjust it.
func BenchmarkPgbenchSelect(b *testing.B) {
	w := newWorld(b)
	w.startAgent()
	cg := w.enforced("bench-job")
	// The tables belong to the agent's login, which created them through sluice; the
	// workload's own login, used on the direct path, only reads them (a grant the policy
	// refuses through sluice, so the superuser gives it). The statement log that the
	// functional tests read would make PostgreSQL's logging the cost of every path.
	testenv.Run(b, cg, w.pgbenchCmd("-i", "-s", "1", "-q"))
	if err := w.db.Exec(b.Context(), `\connect app
GRANT SELECT ON ALL TABLES IN SCHEMA public TO workload;
ALTER SYSTEM SET log_statement = 'none';
SELECT pg_reload_conf();`); err != nil {
		b.Fatal(err)
	}
	agent := w.agent.cmd.Process.Pid
	testenv.ComparePgbenchSelect(b, []testenv.PgbenchPath{
		w.pgbenchPath("direct", "", w.pgbenchCmd, 0),
		w.pgbenchPath("sluice", cg, w.pgbenchCmd, agent),
		startPgbouncer(b, w),
	})
}

// pgbenchPath runs pgbench made by cmd in cgroup cg ("" for the test's own), with the CPU
// of process pid and its helpers as the proxy's (0: no proxy).
func (w *world) pgbenchPath(name, cg string, cmd func(args ...string) *exec.Cmd, pid int) testenv.PgbenchPath {
	p := testenv.PgbenchPath{Name: name, Run: func(args ...string) []byte {
		c := cmd(args...)
		var out []byte
		var err error
		if cg != "" {
			out, err = testenv.Output(cg, c)
		} else {
			out, err = c.CombinedOutput()
		}
		if err != nil {
			w.t.Fatalf("pgbench via %s: %v\n%s", name, err, out)
		}
		return out
	}}
	if pid != 0 {
		p.CPU = func() time.Duration { return testenv.ProcessTreeCPU(w.t, pid) }
	}
	return p
}

// startPgbouncer puts pgbouncer (session mode) in front of the world's database, logging
// in as the agent's role as sluice does, and returns the path through it.
func startPgbouncer(b *testing.B, w *world) testenv.PgbenchPath {
	b.Helper()
	port, pid := testenv.Pgbouncer(b, "127.0.0.1", w.db.Port, "app", "sluice_app", agentPassword)
	pgbench := func(args ...string) *exec.Cmd {
		cmd := exec.Command("pgbench", append([]string{"-h", "127.0.0.1", "-p", port, "-U", "sluice_app"}, append(args, "app")...)...)
		cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable")
		return cmd
	}
	return w.pgbenchPath("pgbouncer", "", pgbench, pid)
}
