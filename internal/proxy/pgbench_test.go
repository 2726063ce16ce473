package proxy

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// pgbench runs pgbench through the proxy against database db and fails the test unless it
// succeeds without failed transactions.
func pgbench(t *testing.T, p *testProxy, db string, args ...string) string {
	t.Helper()
	args = append([]string{"-h", p.addr.Addr().String(), "-p", port(p.addr), "-U", "app"}, args...)
	stdout, stderr, err := pgTool(t, "", "pgbench", append(args, db)...)
	if err != nil {
		t.Fatalf("pgbench %s: %v\n%s\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	if strings.Contains(stdout, "number of failed transactions") && !strings.Contains(stdout, "number of failed transactions: 0 ") {
		t.Fatalf("pgbench %s reported failures:\n%s", strings.Join(args, " "), stdout)
	}
	return stdout
}

// TestPgbench initialises pgbench's tables through the proxy (COPY FROM STDIN, DDL) and runs
// its TPC-B-like script in the simple, extended and prepared protocols.
func TestPgbench(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	if err := p.pg.Exec(t.Context(), "drop database if exists bench; create database bench;"); err != nil {
		t.Fatal(err)
	}
	pgbench(t, p, "bench", "-i", "-s", "2", "-q")
	for _, mode := range []string{"simple", "extended", "prepared"} {
		out := pgbench(t, p, "bench", "-M", mode, "-c", "8", "-j", "2", "-t", "100")
		if !strings.Contains(out, "number of transactions actually processed: 800/800") {
			t.Fatalf("pgbench -M %s:\n%s", mode, out)
		}
	}
}

// TestConcurrentSessions runs 200 concurrent pgbench clients through the proxy and checks
// that afterwards its goroutines, file descriptors and cancel keys are back at baseline.
func TestConcurrentSessions(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	if err := p.pg.Exec(t.Context(), "drop database if exists bench200; create database bench200;"); err != nil {
		t.Fatal(err)
	}
	pgbench(t, p, "bench200", "-i", "-s", "1", "-q")
	goroutines, fds := settled(t, p, -1, -1)

	out := pgbench(t, p, "bench200", "-M", "prepared", "-c", "200", "-j", "4", "-t", "25", "-n")
	if !strings.Contains(out, "number of transactions actually processed: 5000/5000") {
		t.Fatalf("pgbench:\n%s", out)
	}
	settled(t, p, goroutines, fds)
}

// settled waits until the proxy has no session and the process's goroutine and file
// descriptor counts are at most the given ones (any, for -1), and returns the counts. It
// fails the test when that does not happen within a few seconds.
func settled(t *testing.T, p *testProxy, goroutines, fds int) (int, int) {
	t.Helper()
	var g, f, s int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		g, f, s = runtime.NumGoroutine(), openFDs(t), p.Sessions()
		if s == 0 && (goroutines < 0 || g <= goroutines) && (fds < 0 || f <= fds) {
			return g, f
		}
	}
	t.Fatalf("not back to baseline: %d sessions, %d goroutines (baseline %d), %d fds (baseline %d)", s, g, goroutines, f, fds)
	return 0, 0
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
