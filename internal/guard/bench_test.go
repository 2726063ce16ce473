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
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkAuditOverhead runs pgbench -S (8 clients, prepared) through two proxies that
// differ only in the guard's recorder: the real audit log (batched fsync) and one that
// discards records. Each round runs both, in alternating order; the median of the
// per-round TPS ratios is reported (target: the audit log costs at most 5%, ratio >=
// 0.95), which is far steadier on a noisy 2-core machine than a ratio of two medians.
// SLUICE_BENCH_ROUNDS (default 8) and SLUICE_BENCH_SECONDS (default 2) adjust it.
func BenchmarkAuditOverhead(b *testing.B) {
	testenv.RequireRoot(b)
	// As the agent runs by default (agent.max_procs: a quarter of the CPUs, at least 1).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)/4)))
	db := testenv.Postgres(b, pglocal.Options{})
	if out, err := exec.Command("pgbench", "-i", "-s", "2", "-q", "-h", db.Host, "-p", strconv.Itoa(db.Port), "-U", "postgres", "postgres").CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	engine, err := policy.New(policy.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	dir := b.TempDir()
	if err := audit.WriteKeyPair(dir+"/k", dir+"/k.pub"); err != nil {
		b.Fatal(err)
	}
	key, err := audit.LoadPrivateKey(dir + "/k")
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.Open(audit.Options{Dir: dir + "/audit", Key: key, Sync: audit.SyncBatched, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()

	audited := startBenchProxy(b, db, engine, log)
	discarded := startBenchProxy(b, db, engine, discard{})
	rounds := testenv.BenchSetting(b, "SLUICE_BENCH_ROUNDS", 8)
	seconds := testenv.BenchSetting(b, "SLUICE_BENCH_SECONDS", 2)
	// run returns the TPS through p and the proxies' CPU per transaction, which is
	// steadier than TPS on a noisy machine: this process's threads (only p is busy
	// meanwhile) and the audit log's fsync helper, whose work is part of the audit's cost.
	run := func(p *benchProxy) (tps, cpu float64) {
		cpuNow := func() time.Duration {
			own, _ := testenv.ProcessCPU(b, os.Getpid())
			return own + testenv.HelperCPU(b, os.Getpid(), audit.SyncerRole)
		}
		before := cpuNow()
		tps, txns := pgbench(b, p.port, seconds)
		return tps, float64((cpuNow() - before).Microseconds()) / txns
	}
	type round struct{ on, off, cpuOn, cpuOff float64 }
	var results []round
	b.ResetTimer()
	for i := range rounds {
		var r round
		if i%2 == 0 {
			r.on, r.cpuOn = run(audited)
			r.off, r.cpuOff = run(discarded)
		} else {
			r.off, r.cpuOff = run(discarded)
			r.on, r.cpuOn = run(audited)
		}
		results = append(results, r)
	}
	b.StopTimer()
	b.ReportMetric(testenv.Median(results, func(r round) float64 { return r.on }), "tps-audit")
	b.ReportMetric(testenv.Median(results, func(r round) float64 { return r.off }), "tps-no-audit")
	b.ReportMetric(testenv.Median(results, func(r round) float64 { return r.on / r.off }), "audit/no-audit")
	b.ReportMetric(testenv.Median(results, func(r round) float64 { return r.cpuOn }), "cpu-us/txn-audit")
	b.ReportMetric(testenv.Median(results, func(r round) float64 { return r.cpuOff }), "cpu-us/txn-no-audit")
	st := log.Stats()
	b.ReportMetric(float64(st.Writes)/float64(st.Records), "writes/record")
}

type benchProxy struct{ port int }

func startBenchProxy(b *testing.B, db *pglocal.Server, engine *policy.Engine, rec Recorder) *benchProxy {
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
		Inspector: g,
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
