package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// benchSetting reads a positive integer from the environment variable name, or returns def.
// The defaults keep `make bench` near two minutes on a 2-core machine; more rounds or
// longer ones narrow the spread on a quieter machine.
func benchSetting(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

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
	rounds := benchSetting(b, "SLUICE_BENCH_ROUNDS", 5)
	seconds := benchSetting(b, "SLUICE_BENCH_SECONDS", 3)
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
		txns := parseFloat(b, out, `number of transactions actually processed: ([0-9]+)`)
		return pgbenchResult{
			tps:     parseFloat(b, out, `tps = ([0-9.]+)`),
			latency: parseFloat(b, out, `latency average = ([0-9.]+) ms`),
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
			tps := median(rs, func(r []pgbenchResult) float64 { return r[i].tps })
			lat := median(rs, func(r []pgbenchResult) float64 { return r[i].latency })
			cpu := median(rs, func(r []pgbenchResult) float64 { return r[i].cpu })
			fmt.Fprintf(&table, "%-9s %-18s %10.0f %12.3f %18.1f\n", mode, p.name, tps, lat, cpu)
			b.ReportMetric(tps, mode+"-"+p.name+"-tps")
		}
		for _, other := range []int{0, 2} {
			name := paths[1].name + "/" + paths[other].name
			tps := median(rs, func(r []pgbenchResult) float64 { return r[1].tps / r[other].tps })
			lat := median(rs, func(r []pgbenchResult) float64 { return r[1].latency / r[other].latency })
			fmt.Fprintf(&table, "%-9s %-18s %10.2f %12.2f", mode, name, tps, lat)
			if paths[other].proxy != 0 {
				cpu := median(rs, func(r []pgbenchResult) float64 { return r[1].cpu / r[other].cpu })
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

// median returns the median of f over the rounds.
func median(rounds [][]pgbenchResult, f func([]pgbenchResult) float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// cpuTime returns the user and system CPU time that process pid and its descendants
// alive now (the agent's SQL parser workers) have used, all threads together; 0 for pid 0.
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	total, ok := processCPU(b, pid)
	if !ok {
		b.Fatalf("process %d is gone", pid)
	}
	for pending := childPIDs(pid); len(pending) > 0; {
		p := pending[len(pending)-1]
		pending = append(pending[:len(pending)-1], childPIDs(p)...)
		if cpu, ok := processCPU(b, p); ok { // else it exited meanwhile
			total += cpu
		}
	}
	return total
}

// processCPU reads one process's CPU time; false if the process does not exist.
func processCPU(b *testing.B, pid int) (time.Duration, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// Fields from the third on follow the parenthesised command name; utime and stime
	// are the 14th and 15th, in USER_HZ ticks (100 per second on Linux).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

// childPIDs lists the children of every thread of process pid.
func childPIDs(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var pids []int
	for _, f := range files {
		list, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(list)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

func parseFloat(b *testing.B, out []byte, pattern string) float64 {
	b.Helper()
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in pgbench output:\n%s", pattern, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// startPgbouncer runs pgbouncer in session mode in front of the world's database, logging
// in as the agent's role as sluice does, and returns the path through it.
// pgbouncer refuses to run as root, so it runs as the postgres user, from a directory of
// its own; cleanup stops it.
func startPgbouncer(b *testing.B, w *world) benchPath {
	b.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		b.Fatalf("pgbouncer is part of this comparison (apt-get install pgbouncer): %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// Not b.TempDir: its parent is private to root, and pgbouncer runs as postgres.
	dir, err := os.MkdirTemp("", "sluice-pgbouncer-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(freePort(b))
	logFile := filepath.Join(dir, "pgbouncer.log")
	ini := fmt.Sprintf(`[databases]
app = host=127.0.0.1 port=%d dbname=app user=sluice_app password=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = any
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = %s
`, w.db.Port, agentPassword, port, logFile)
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, iniPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			b.Fatalf("pgbouncer did not start:\n%s", log)
		}
	}
	pgbench := func(args ...string) *exec.Cmd {
		cmd := exec.Command("pgbench", append([]string{"-h", "127.0.0.1", "-p", port, "-U", "sluice_app"}, append(args, "app")...)...)
		cmd.Env = append(cmd.Environ(), "PGSSLMODE=disable")
		return cmd
	}
	return benchPath{name: "pgbouncer", cmd: pgbench, proxy: cmd.Process.Pid}
}
