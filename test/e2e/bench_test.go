package e2e

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// benchPath is one way for pgbench to reach the database.
type benchPath struct {
	name  string
	cg    string                         // the cgroup pgbench runs in; "" for the test's own
	cmd   func(args ...string) *exec.Cmd // pgbench with the path's host, port and user
	proxy int                            // pid of the proxy on the path; 0 for none
}

// pgbenchResult is what one pgbench run measured.
type pgbenchResult struct {
	tps, latency float64
	cpu          float64 // microseconds of CPU time the proxy used per transaction
}

// BenchmarkPgbenchSelect compares pgbench -S (8 clients, simple and prepared protocol)
// directly against PostgreSQL, through sluice (pgbench in an enforced cgroup, redirected
// by the kernel to the real agent binary, which checks the identity, decides and audits
// every statement), and through pgbouncer in session mode. The machine is small and
// shared, so the three paths run interleaved in short rounds (the order rotating each
// round so none always runs first), and the table reports the median of each path and the
// median of the per-round ratios, which pair runs seconds apart. It also reports the CPU
// time the proxy (the agent with its workers, pgbouncer) used per transaction: with
// pgbench, PostgreSQL and the proxy sharing a few cores, that is what throughput costs,
// and it varies far less than throughput on a busy machine. TLS is off on every path:
// pgbouncer and PostgreSQL serve none here.
//
//	go test -run '^$' -bench PgbenchSelect -benchtime 1x ./test/e2e/
//
// SLUICE_BENCH_ROUNDS (default 5) and SLUICE_BENCH_SECONDS (default 3, per run) adjust it.
func BenchmarkPgbenchSelect(b *testing.B) {
	rounds := testenv.BenchSetting(b, "SLUICE_BENCH_ROUNDS", 5)
	seconds := testenv.BenchSetting(b, "SLUICE_BENCH_SECONDS", 3)
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
	paths := []benchPath{
		{name: "direct", cmd: w.pgbenchCmd},
		{name: "sluice", cg: cg, cmd: w.pgbenchCmd, proxy: w.agent.cmd.Process.Pid},
		startPgbouncer(b, w),
	}
	modes := []string{"simple", "prepared"}
	run := func(p benchPath, mode string, seconds int) pgbenchResult {
		cmd := p.cmd("-S", "-n", "-M", mode, "-c", "8", "-j", "2", "-T", strconv.Itoa(seconds))
		var out []byte
		var err error
		cpu := cpuTime(b, p.proxy)
		if p.cg != "" {
			out, err = testenv.Output(p.cg, cmd)
		} else {
			out, err = cmd.CombinedOutput()
		}
		if err != nil {
			b.Fatalf("pgbench via %s: %v\n%s", p.name, err, out)
		}
		cpu = cpuTime(b, p.proxy) - cpu
		txns := testenv.ParseFloat(b, out, `number of transactions actually processed: ([0-9]+)`)
		return pgbenchResult{
			tps:     testenv.ParseFloat(b, out, `tps = ([0-9.]+)`),
			latency: testenv.ParseFloat(b, out, `latency average = ([0-9.]+) ms`),
			cpu:     float64(cpu.Microseconds()) / txns,
		}
	}
	// One discarded second per path and mode warms the caches and the agent.
	for _, mode := range modes {
		for _, p := range paths {
			run(p, mode, 1)
		}
	}
	b.ResetTimer()

	results := map[string][][]pgbenchResult{} // mode -> round -> path
	for range b.N {
		for r := range rounds {
			for _, mode := range modes {
				round := make([]pgbenchResult, len(paths))
				for k := range paths {
					i := (k + r) % len(paths)
					round[i] = run(paths[i], mode, seconds)
				}
				results[mode] = append(results[mode], round)
			}
		}
	}
	b.StopTimer()

	var table strings.Builder
	fmt.Fprintf(&table, "\npgbench -S -c 8 -j 2, %d rounds of %d s per path and mode (medians)\n", len(results[modes[0]]), seconds)
	fmt.Fprintf(&table, "%-9s %-18s %10s %12s %18s\n", "mode", "path", "tps", "latency ms", "proxy CPU us/txn")
	for _, mode := range modes {
		rs := results[mode]
		for i, p := range paths {
			tps := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].tps })
			lat := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].latency })
			cpu := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].cpu })
			fmt.Fprintf(&table, "%-9s %-18s %10.0f %12.3f %18.1f\n", mode, p.name, tps, lat, cpu)
			b.ReportMetric(tps, mode+"-"+p.name+"-tps")
		}
		for _, other := range []int{0, 2} {
			name := paths[1].name + "/" + paths[other].name
			tps := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[1].tps / r[other].tps })
			lat := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[1].latency / r[other].latency })
			fmt.Fprintf(&table, "%-9s %-18s %10.2f %12.2f", mode, name, tps, lat)
			if paths[other].proxy != 0 {
				cpu := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[1].cpu / r[other].cpu })
				fmt.Fprintf(&table, " %18.2f", cpu)
				b.ReportMetric(cpu, mode+"-"+name+"-cpu")
			}
			table.WriteString("\n")
			b.ReportMetric(tps, mode+"-"+name+"-tps")
			b.ReportMetric(lat, mode+"-"+name+"-latency")
		}
	}
	// Printed rather than logged: benchmark logs are cut after ten lines.
	fmt.Print(table.String())
}

// cpuTime returns the user and system CPU time that process pid and its descendants
// alive now (the agent's SQL parser workers) have used, all threads together; 0 for pid 0.
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	total, ok := testenv.ProcessCPU(b, pid)
	if !ok {
		b.Fatalf("process %d is gone", pid)
	}
	for pending := testenv.ChildPIDs(pid); len(pending) > 0; {
		p := pending[len(pending)-1]
		pending = append(pending[:len(pending)-1], testenv.ChildPIDs(p)...)
		if cpu, ok := testenv.ProcessCPU(b, p); ok { // else it exited meanwhile
			total += cpu
		}
	}
	return total
}

// startPgbouncer puts pgbouncer (session mode) in front of the world's database, logging
// in as the agent's role as sluice does, and returns the path through it.
func startPgbouncer(b *testing.B, w *world) benchPath {
	b.Helper()
	port, pid := testenv.Pgbouncer(b, "127.0.0.1", w.db.Port, "app", "sluice_app", agentPassword)
	pgbench := func(args ...string) *exec.Cmd {
		cmd := exec.Command("pgbench", append([]string{"-h", "127.0.0.1", "-p", port, "-U", "sluice_app"}, append(args, "app")...)...)
		cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable")
		return cmd
	}
	return benchPath{name: "pgbouncer", cmd: pgbench, proxy: pid}
}
