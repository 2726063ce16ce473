package proxy

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkPgbenchSelect measures the proxy core alone: pgbench -S directly against
// PostgreSQL, through an in-process proxy with no Inspector, and through pgbouncer in
// session mode (testenv.ComparePgbenchSelect says how). The proxy's CPU is this process's,
// which does nothing else meanwhile. test/e2e has the same comparison through the real
// agent and the kernel's redirect. pgbench generates the load, so run it once:
//
//	go test -run '^$' -bench PgbenchSelect -benchtime 1x ./internal/proxy/
func BenchmarkPgbenchSelect(b *testing.B) {
	pg := sharedPostgres(b)
	if err := pg.Exec(b.Context(), "drop database if exists benchsel; create database benchsel;"); err != nil {
		b.Fatal(err)
	}
	p := startProxy(b, pg, nil)
	bouncer, bouncerPID := testenv.Pgbouncer(b, pg.Host, pg.Port, "benchsel", "postgres", superPassword)
	path := func(name, host, port, user string, pid int) testenv.PgbenchPath {
		pa := testenv.PgbenchPath{Name: name, Run: func(args ...string) []byte {
			// TLS off on every path, as pgbouncer and PostgreSQL here serve none.
			args = append([]string{"-h", host, "-p", port, "-U", user}, append(args, "dbname=benchsel sslmode=disable")...)
			out, stderr, err := pgTool(b, "", "pgbench", args...)
			if err != nil {
				b.Fatalf("pgbench via %s: %v\n%s%s", name, err, out, stderr)
			}
			return []byte(out)
		}}
		if pid != 0 {
			pa.CPU = func() time.Duration { return cpuTime(b, pid) }
		}
		return pa
	}
	paths := []testenv.PgbenchPath{
		path("direct", pg.Host, strconv.Itoa(pg.Port), "postgres", 0),
		path("sluice", p.addr.Addr().String(), port(p.addr), "app", os.Getpid()),
		path("pgbouncer", "127.0.0.1", bouncer, "postgres", bouncerPID),
	}
	paths[0].Run("-i", "-s", "1", "-q")
	testenv.ComparePgbenchSelect(b, paths)
}

// cpuTime returns the CPU time process pid has used, all its threads together (not its
// children: PostgreSQL is one of this test process's).
func cpuTime(b *testing.B, pid int) time.Duration {
	cpu, ok := testenv.ProcessCPU(b, pid)
	if !ok {
		b.Fatalf("process %d is gone", pid)
	}
	return cpu
}
