package proxy

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
)

// benchSetting reads a positive integer from the environment variable name, or returns def.
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

// pgbenchResult is what one pgbench run measured.
type pgbenchResult struct {
	tps, latency float64
	cpu          float64 // microseconds of CPU time the proxy used per transaction
}

// BenchmarkPgbenchSelect measures the proxy core alone: pgbench -S (8 clients) in the
// simple and prepared protocols directly against PostgreSQL, through an in-process proxy
// with no Inspector, and through pgbouncer in session mode. The three paths run
// interleaved in short rounds, the order rotating each round, and the table reports the
// median of each path, the median of the per-round ratios proxy/direct and
// proxy/pgbouncer, and the CPU time the proxy (this process, which does nothing else
// meanwhile) and pgbouncer used per transaction. test/e2e has the same comparison through
// the real agent and the kernel's redirect. pgbench generates the load, so run it once:
//
//	go test -run '^$' -bench PgbenchSelect -benchtime 1x ./internal/proxy/
//
// SLUICE_BENCH_ROUNDS (default 5) and SLUICE_BENCH_SECONDS (default 3, per run) adjust it.
func BenchmarkPgbenchSelect(b *testing.B) {
	rounds := benchSetting(b, "SLUICE_BENCH_ROUNDS", 5)
	seconds := benchSetting(b, "SLUICE_BENCH_SECONDS", 3)
	pg := sharedPostgres(b)
	if err := pg.Exec(b.Context(), "drop database if exists benchsel; create database benchsel;"); err != nil {
		b.Fatal(err)
	}
	p := startProxy(b, pg, nil)
	bouncer, bouncerPID := startPgbouncer(b, pg.Host, pg.Port, "benchsel")
	paths := []struct {
		name, host, port, user string
		proxy                  int // pid of the proxy on the path; 0 for none
	}{
		{"direct", pg.Host, strconv.Itoa(pg.Port), "postgres", 0},
		{"sluice", p.addr.Addr().String(), port(p.addr), "app", os.Getpid()},
		{"pgbouncer", "127.0.0.1", bouncer, "postgres", bouncerPID},
	}
	pgbench := func(path int, args ...string) string {
		pa := paths[path]
		// TLS off on every path, as pgbouncer and PostgreSQL here serve none.
		args = append([]string{"-h", pa.host, "-p", pa.port, "-U", pa.user}, append(args, "dbname=benchsel sslmode=disable")...)
		out, stderr, err := pgTool(b, "", "pgbench", args...)
		if err != nil {
			b.Fatalf("pgbench via %s: %v\n%s%s", pa.name, err, out, stderr)
		}
		return out
	}
	run := func(path int, mode string, seconds int) pgbenchResult {
		cpu := cpuTime(b, paths[path].proxy)
		out := pgbench(path, "-S", "-M", mode, "-c", "8", "-j", "2", "-n", "-T", strconv.Itoa(seconds))
		cpu = cpuTime(b, paths[path].proxy) - cpu
		return pgbenchResult{
			tps:     parseFloat(b, out, `tps = ([0-9.]+)`),
			latency: parseFloat(b, out, `latency average = ([0-9.]+) ms`),
			cpu:     float64(cpu.Microseconds()) / parseFloat(b, out, `number of transactions actually processed: ([0-9]+)`),
		}
	}
	pgbench(0, "-i", "-s", "1", "-q")
	modes := []string{"simple", "prepared"}
	for _, mode := range modes { // one discarded second per path and mode warms the caches
		for i := range paths {
			run(i, mode, 1)
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
					round[i] = run(i, mode, seconds)
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
		for i, pa := range paths {
			tps := median(rs, func(r []pgbenchResult) float64 { return r[i].tps })
			lat := median(rs, func(r []pgbenchResult) float64 { return r[i].latency })
			cpu := median(rs, func(r []pgbenchResult) float64 { return r[i].cpu })
			fmt.Fprintf(&table, "%-9s %-18s %10.0f %12.3f %18.1f\n", mode, pa.name, tps, lat, cpu)
			b.ReportMetric(tps, mode+"-"+pa.name+"-tps")
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

// cpuTime returns the user and system CPU time process pid has used, all its threads
// together; 0 for pid 0.
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
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
	return time.Duration(ticks) * 10 * time.Millisecond
}

func parseFloat(b *testing.B, out, pattern string) float64 {
	b.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in pgbench output:\n%s", pattern, out)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// startPgbouncer runs pgbouncer in session mode in front of PostgreSQL's database db,
// logging in as the superuser, and returns its port and pid. pgbouncer refuses to run as
// root, so it runs as the postgres user.
func startPgbouncer(b *testing.B, host string, pgPort int, db string) (string, int) {
	b.Helper()
	path, err := exec.LookPath("pgbouncer")
	if err != nil {
		b.Skipf("pgbouncer is needed for this comparison: %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		b.Fatal(err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir, err := os.MkdirTemp("", "sluice-pgbouncer-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bouncerPort := port(ln.Addr().(*net.TCPAddr).AddrPort())
	_ = ln.Close()
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s user=postgres password=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = any
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = %s
`, db, host, pgPort, db, superPassword, bouncerPort, filepath.Join(dir, "pgbouncer.log"))
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(path, iniPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+bouncerPort); err == nil {
			c.Close()
			return bouncerPort, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			b.Fatalf("pgbouncer did not start:\n%s", log)
		}
	}
}
