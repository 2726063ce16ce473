package guard

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/policy"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkAuditOverhead runs pgbench -S (8 clients, prepared) through proxies that differ
// only in the guard's recorder, to measure what the audit log costs and where:
//
//   - no-audit discards every record;
//   - durable-floor does only what no write-ahead log with this chain can skip, minus the
//     JSON encoding, with the proxy's share cut to a copy per record (durableFloor): a
//     helper process chains SHA-256 over line-sized buffers, writes them once per
//     SyncWindow and fsyncs. No audit log that keeps this format can cost less;
//   - audit-nosync is the real audit log without fsyncs (sync: none);
//   - audit is the real audit log as configured by default (batched: fsync within 5 ms).
//
// Each round runs every arm, in rotating order; medians of the per-round TPS ratios to
// no-audit are reported (target: the audit log costs at most 5%, audit/no-audit >= 0.95),
// which is far steadier on a noisy 2-core machine than a ratio of two medians, with their
// quartiles (-q1, -q3) to show how far a median can be trusted.
// pgbench connects as libpq does by default (sslmode=prefer), so the client leg is TLS in
// every arm; BenchmarkLayers has the same comparison without TLS.
// SLUICE_BENCH_ROUNDS (default 16) and SLUICE_BENCH_SECONDS (default 2) adjust it.
//
//	go test -run '^$' -bench AuditOverhead -benchtime 1x ./internal/guard/
func BenchmarkAuditOverhead(b *testing.B) {
	db, engine, log := benchSetup(b, 2)
	type arm struct {
		name     string
		proxy    *benchProxy
		tps, cpu []float64 // per round; cpu is the proxies' CPU per transaction (µs)
		ratio    []float64 // per round, to no-audit
	}
	newArm := func(name string, rec Recorder) *arm {
		return &arm{name: name, proxy: startBenchProxy(b, db, benchGuard(b, engine, rec))}
	}
	floor := startDurableFloor(b)
	arms := []*arm{
		newArm("no-audit", discard{}),
		newArm("durable-floor", floor),
		newArm("audit-nosync", benchLog(b, audit.SyncNone)),
		newArm("audit", log),
	}
	rounds := testenv.BenchSetting(b, "SLUICE_BENCH_ROUNDS", 16)
	seconds := testenv.BenchSetting(b, "SLUICE_BENCH_SECONDS", 2)
	b.ResetTimer()
	for r := range rounds {
		for i := range arms {
			a := arms[(i+r)%len(arms)]
			// Only this arm's proxy is busy meanwhile (the floor's helper idles at floorIdlePoll),
			// so proxiesCPU's rise is its own.
			before := proxiesCPU(b)
			tps, txns := pgbench(b, a.proxy.port, seconds)
			a.tps = append(a.tps, tps)
			a.cpu = append(a.cpu, float64((proxiesCPU(b)-before).Microseconds())/txns)
		}
		for _, a := range arms {
			a.ratio = append(a.ratio, a.tps[r]/arms[0].tps[r])
		}
	}
	b.StopTimer()
	if n := floor.overruns.Load(); n > 0 {
		b.Fatalf("the durable floor's helper fell %d records behind: its figure would understate the floor", n)
	}
	value := func(x float64) float64 { return x }
	for i, a := range arms {
		b.ReportMetric(testenv.Median(a.tps, value), "tps-"+a.name)
		b.ReportMetric(testenv.Median(a.cpu, value), "cpu-us/txn-"+a.name)
		if i > 0 {
			b.ReportMetric(testenv.Median(a.ratio, value), a.name+"/no-audit")
			b.ReportMetric(testenv.Quantile(a.ratio, value, 0.25), a.name+"/no-audit-q1")
			b.ReportMetric(testenv.Quantile(a.ratio, value, 0.75), a.name+"/no-audit-q3")
		}
	}
	st := log.Stats()
	b.ReportMetric(float64(st.Writes)/float64(st.Records), "writes/record")
	b.ReportMetric(float64(st.Syncs)/float64(st.Records), "fsyncs/record")
}

// BenchmarkLayers takes the gap between sluice and pgbouncer apart. pgbench -S runs
// directly, through in-process proxies that each add one layer, and through pgbouncer
// (session mode), side by side (testenv.ComparePgbenchSelect says how):
//
//   - relay: the proxy core with no Inspector, relaying every message;
//   - guard: plus the guard with the default rule pack deciding every statement, its
//     records discarded;
//   - audit: plus the audit log (batched fsync) writing them.
//
// The proxies run one processor, as the agent does by default on a 2-core machine, and
// their CPU includes the parser workers and the fsync helper. TLS is off on every path, as
// pgbouncer here serves none. test/e2e's BenchmarkPgbenchSelect adds the rest of the real
// agent: the kernel's redirect, identity checks and the agent's own wiring. Figures and
// what they mean: docs/performance.md.
//
//	go test -run '^$' -bench Layers -benchtime 1x ./internal/guard/
func BenchmarkLayers(b *testing.B) {
	db, engine, log := benchSetup(b, 1)
	cpu := func() time.Duration { return proxiesCPU(b) }
	path := func(name string, port int, cpu func() time.Duration) testenv.PgbenchPath {
		return testenv.PgbenchPath{Name: name, CPU: cpu, Run: func(args ...string) []byte {
			args = append(args, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "postgres")
			cmd := exec.Command("pgbench", args...)
			cmd.Env = append(os.Environ(), "PGSSLMODE=disable") // pgbouncer here serves no TLS
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("pgbench via %s: %v\n%s", name, err, out)
			}
			return out
		}}
	}
	bouncer, bouncerPID := testenv.Pgbouncer(b, "127.0.0.1", db.Port, "postgres", "postgres", "unused-with-trust")
	bouncerPort, _ := strconv.Atoi(bouncer)
	testenv.ComparePgbenchSelect(b, []testenv.PgbenchPath{
		path("direct", db.Port, nil),
		path("relay", startBenchProxy(b, db, nil).port, cpu),
		path("guard", startBenchProxy(b, db, benchGuard(b, engine, discard{})).port, cpu),
		path("audit", startBenchProxy(b, db, benchGuard(b, engine, log)).port, cpu),
		path("pgbouncer", bouncerPort, func() time.Duration { return testenv.ProcessTreeCPU(b, bouncerPID) }),
	})
}

// benchSetup prepares what the proxies of a benchmark share: one processor, as the agent
// runs by default (agent.max_procs: a quarter of the CPUs, at least 1); a database with
// pgbench's tables at scale; the default rule pack; an audit log (batched fsync).
func benchSetup(b *testing.B, scale int) (*pglocal.Server, *policy.Engine, *audit.Log) {
	testenv.RequireRoot(b)
	procs := runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)/4))
	b.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	db := testenv.Postgres(b, pglocal.Options{})
	if out, err := exec.Command("pgbench", "-i", "-s", strconv.Itoa(scale), "-q", "-h", db.Host, "-p", strconv.Itoa(db.Port), "-U", "postgres", "postgres").CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	engine, err := policy.New(policy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { engine.Close() })
	return db, engine, benchLog(b, audit.SyncBatched)
}

// proxiesCPU is the CPU time the in-process proxies have used: this process's threads
// (nothing else runs in it meanwhile) and the helpers working for them, the parser
// workers, the audit log's fsync helper and the durable floor's helper.
func proxiesCPU(b *testing.B) time.Duration {
	own, _ := testenv.ProcessCPU(b, os.Getpid())
	return own + testenv.HelperCPU(b, os.Getpid(), audit.SyncerRole) + testenv.HelperCPU(b, os.Getpid(), sqlparse.WorkerRole) +
		testenv.HelperCPU(b, os.Getpid(), floorRole)
}

// benchLog opens an audit log with the sync policy in a directory of the benchmark's own,
// with every other setting at its default.
func benchLog(b *testing.B, sync audit.SyncPolicy) *audit.Log {
	dir := b.TempDir()
	if err := audit.WriteKeyPair(dir+"/k", dir+"/k.pub"); err != nil {
		b.Fatal(err)
	}
	key, err := audit.LoadPrivateKey(dir + "/k")
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.Open(audit.Options{Dir: dir + "/audit", Key: key, Sync: sync, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { log.Close() })
	return log
}

// benchGuard is a guard that verifies every session as one CI job and records to rec.
func benchGuard(b *testing.B, engine *policy.Engine, rec Recorder) *Guard {
	g, err := New(Options{
		Identities: benchIdentities{},
		Policy:     engine,
		Audit:      rec,
		Approvals:  approvals.New(approvals.Options{}),
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

type benchProxy struct{ port int }

// startBenchProxy starts an in-process proxy in front of db with inspector insp (nil: none).
func startBenchProxy(b *testing.B, db *pglocal.Server, insp proxy.Inspector) *benchProxy {
	srv, err := proxy.NewServer(proxy.Config{
		Targets: []proxy.Target{{
			Name:         "db",
			Destinations: []proxy.Destination{{Prefix: netip.MustParsePrefix("127.0.0.2/32")}},
			Host:         "127.0.0.1",
			Port:         uint16(db.Port),
			User:         "postgres",
			TLS:          proxy.TLSDisable,
		}},
		Origins:   benchOrigin{},
		Inspector: insp,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &benchProxy{port: ln.Addr().(*net.TCPAddr).Port}
}

// pgbench runs pgbench -S through the proxy on port and returns its TPS and the number of
// transactions it completed.
func pgbench(b *testing.B, port, seconds int) (tps, txns float64) {
	out, err := exec.Command("pgbench", "-S", "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", strconv.Itoa(seconds),
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "postgres").CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	return testenv.ParseFloat(b, out, `tps = ([0-9.]+)`), testenv.ParseFloat(b, out, `number of transactions actually processed: ([0-9]+)`)
}

// benchOrigin stands in for the kernel: every connection came from one enforced cgroup.
type benchOrigin struct{}

func (benchOrigin) Lookup(netip.AddrPort, netip.AddrPort) (origin.Origin, error) {
	return origin.Origin{Dest: netip.MustParseAddrPort("127.0.0.2:5432"), CgroupID: 1, Mode: origin.ModeEnforce}, nil
}

// benchIdentities verifies every session as one CI job, valid for the whole run.
type benchIdentities struct{}

var benchID = identity.Identity{Issuer: "https://bench", Subject: "job", Groups: []string{"ci"}, Expiry: time.Now().Add(24 * time.Hour)}

func (benchIdentities) Identity(context.Context, origin.Origin) (identity.Identity, error) {
	return benchID, nil
}

func (benchIdentities) Continue(context.Context, origin.Origin, identity.Identity) (identity.Identity, error) {
	return benchID, nil
}

func (benchIdentities) Workload(origin.Origin) (string, identity.Workload, error) {
	return "/bench", identity.Workload{}, nil
}

// discard is the "audit off" recorder.
type discard struct{}

func (discard) Append(audit.Event) error      { return nil }
func (discard) AppendLater(audit.Event) error { return nil }
