package proxy

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

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
	rounds := testenv.BenchSetting(b, "SLUICE_BENCH_ROUNDS", 5)
	seconds := testenv.BenchSetting(b, "SLUICE_BENCH_SECONDS", 3)
	pg := sharedPostgres(b)
	if err := pg.Exec(b.Context(), "drop database if exists benchsel; create database benchsel;"); err != nil {
		b.Fatal(err)
	}
	p := startProxy(b, pg, nil)
	bouncer, bouncerPID := testenv.Pgbouncer(b, pg.Host, pg.Port, "benchsel", "postgres", superPassword)
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
			tps:     testenv.ParseFloat(b, []byte(out), `tps = ([0-9.]+)`),
			latency: testenv.ParseFloat(b, []byte(out), `latency average = ([0-9.]+) ms`),
			cpu:     float64(cpu.Microseconds()) / testenv.ParseFloat(b, []byte(out), `number of transactions actually processed: ([0-9]+)`),
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
			tps := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].tps })
			lat := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].latency })
			cpu := testenv.Median(rs, func(r []pgbenchResult) float64 { return r[i].cpu })
			fmt.Fprintf(&table, "%-9s %-18s %10.0f %12.3f %18.1f\n", mode, pa.name, tps, lat, cpu)
			b.ReportMetric(tps, mode+"-"+pa.name+"-tps")
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

// cpuTime returns the CPU time process pid has used, all its threads together; 0 for pid 0.
func cpuTime(b *testing.B, pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	cpu, ok := testenv.ProcessCPU(b, pid)
	if !ok {
		b.Fatalf("process %d is gone", pid)
	}
	return cpu
}
