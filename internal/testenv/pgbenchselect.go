package testenv

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PgbenchPath is one way for pgbench to reach the database in ComparePgbenchSelect.
type PgbenchPath struct {
	Name string
	// Run runs pgbench with the given arguments on this path and returns its output,
	// failing the benchmark if pgbench fails.
	Run func(args ...string) []byte
	// CPU returns the CPU time the path's proxy has used so far; nil for a path without
	// one (direct).
	CPU func() time.Duration
}

// pgbenchResult is what one pgbench run measured.
type pgbenchResult struct {
	tps, latency float64
	cpu          float64 // microseconds of CPU time the proxy used per transaction
}

// ComparePgbenchSelect runs pgbench -S (8 clients, simple and prepared protocol) on every
// path and prints, per mode, each path's median TPS, latency and proxy CPU per transaction,
// then the medians of the per-round ratios of each subject (every path but the first and
// the last) to the first path (direct) and to the last (pgbouncer). The machines are small and shared, so the paths run interleaved in short
// rounds with the order rotating each round, so none always runs first, and ratios pair
// runs seconds apart. The proxy CPU per transaction varies far less than throughput on a
// busy machine, and with pgbench, PostgreSQL and the proxy sharing a few cores it is what
// throughput costs. SLUICE_BENCH_ROUNDS (default 5) and SLUICE_BENCH_SECONDS (default 3,
// per run) adjust it.
func ComparePgbenchSelect(b *testing.B, paths []PgbenchPath) {
	b.Helper()
	rounds := BenchSetting(b, "SLUICE_BENCH_ROUNDS", 5)
	seconds := BenchSetting(b, "SLUICE_BENCH_SECONDS", 3)
	cpuOf := func(p PgbenchPath) time.Duration {
		if p.CPU == nil {
			return 0
		}
		return p.CPU()
	}
	run := func(p PgbenchPath, mode string, seconds int) pgbenchResult {
		cpu := cpuOf(p)
		out := p.Run("-S", "-n", "-M", mode, "-c", "8", "-j", "2", "-T", strconv.Itoa(seconds))
		cpu = cpuOf(p) - cpu
		return pgbenchResult{
			tps:     ParseFloat(b, out, `tps = ([0-9.]+)`),
			latency: ParseFloat(b, out, `latency average = ([0-9.]+) ms`),
			cpu:     float64(cpu.Microseconds()) / ParseFloat(b, out, `number of transactions actually processed: ([0-9]+)`),
		}
	}
	modes := []string{"simple", "prepared"}
	for _, mode := range modes { // one discarded second per path and mode warms the caches
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
			tps := Median(rs, func(r []pgbenchResult) float64 { return r[i].tps })
			lat := Median(rs, func(r []pgbenchResult) float64 { return r[i].latency })
			cpu := Median(rs, func(r []pgbenchResult) float64 { return r[i].cpu })
			fmt.Fprintf(&table, "%-9s %-18s %10.0f %12.3f %18.1f\n", mode, p.Name, tps, lat, cpu)
			b.ReportMetric(tps, mode+"-"+p.Name+"-tps")
		}
		for subject := 1; subject < len(paths)-1; subject++ {
			for _, other := range []int{0, len(paths) - 1} {
				name := paths[subject].Name + "/" + paths[other].Name
				tps := Median(rs, func(r []pgbenchResult) float64 { return r[subject].tps / r[other].tps })
				lat := Median(rs, func(r []pgbenchResult) float64 { return r[subject].latency / r[other].latency })
				fmt.Fprintf(&table, "%-9s %-18s %10.2f %12.2f", mode, name, tps, lat)
				if paths[other].CPU != nil {
					cpu := Median(rs, func(r []pgbenchResult) float64 { return r[subject].cpu / r[other].cpu })
					fmt.Fprintf(&table, " %18.2f", cpu)
					b.ReportMetric(cpu, mode+"-"+name+"-cpu")
				}
				table.WriteString("\n")
				b.ReportMetric(tps, mode+"-"+name+"-tps")
				b.ReportMetric(lat, mode+"-"+name+"-latency")
			}
		}
	}
	// Printed rather than logged: benchmark logs are cut after ten lines.
	fmt.Print(table.String())
}

// ProcessTreeCPU returns the CPU time process pid and its descendants alive now (a proxy's
// helper processes) have used, all threads together, failing if pid is gone.
func ProcessTreeCPU(t testing.TB, pid int) time.Duration {
	total, ok := ProcessCPU(t, pid)
	if !ok {
		t.Fatalf("process %d is gone", pid)
	}
	for pending := ChildPIDs(pid); len(pending) > 0; {
		p := pending[len(pending)-1]
		pending = append(pending[:len(pending)-1], ChildPIDs(p)...)
		if cpu, ok := ProcessCPU(t, p); ok { // else it exited meanwhile
			total += cpu
		}
	}
	return total
}
