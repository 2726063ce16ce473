package proxy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchDuration is how long each pgbench run lasts; SLUICE_BENCH_SECONDS overrides it.
func benchDuration() string {
	if s := os.Getenv("SLUICE_BENCH_SECONDS"); s != "" {
		return s
	}
	return "10"
}

// BenchmarkPgbenchSelect runs pgbench -S (8 clients) in the simple and prepared protocols
// directly against PostgreSQL, through the proxy, and through pgbouncer in session mode,
// one after the other in one run, and reports TPS, mean latency and the ratios
// proxy/direct and proxy/pgbouncer. pgbench generates the load, so run it once:
//
//	go test -run '^$' -bench PgbenchSelect -benchtime 1x ./internal/proxy/
func BenchmarkPgbenchSelect(b *testing.B) {
	pg := sharedPostgres(b)
	if err := pg.Exec(b.Context(), "drop database if exists benchsel; create database benchsel;"); err != nil {
		b.Fatal(err)
	}
	p := startProxy(b, pg, nil)
	bouncer := startPgbouncer(b, pg.Host, pg.Port, "benchsel")
	paths := []struct{ name, host, port, user string }{
		{"direct", pg.Host, strconv.Itoa(pg.Port), "postgres"},
		{"sluice", p.addr.Addr().String(), port(p.addr), "app"},
		{"pgbouncer", "127.0.0.1", bouncer, "postgres"},
	}
	run := func(path int, args ...string) string {
		pa := paths[path]
		// TLS off on every path, as pgbouncer and PostgreSQL here serve none.
		args = append([]string{"-h", pa.host, "-p", pa.port, "-U", pa.user}, append(args, "dbname=benchsel sslmode=disable")...)
		out, stderr, err := pgTool(b, "", "pgbench", args...)
		if err != nil {
			b.Fatalf("pgbench via %s: %v\n%s%s", pa.name, err, out, stderr)
		}
		return out
	}
	run(0, "-i", "-s", "10", "-q")
	for range b.N {
		for _, mode := range []string{"simple", "prepared"} {
			var tps, lat [3]float64
			for i := range paths {
				out := run(i, "-S", "-M", mode, "-c", "8", "-j", "2", "-n", "-T", benchDuration())
				tps[i], lat[i] = parseFloat(b, out, `tps = ([0-9.]+)`), parseFloat(b, out, `latency average = ([0-9.]+) ms`)
				b.ReportMetric(tps[i], mode+"-"+paths[i].name+"-tps")
				b.Logf("%-8s %-9s %9.0f tps %7.3f ms", mode, paths[i].name, tps[i], lat[i])
			}
			b.Logf("%-8s sluice/direct    tps %.2f  latency %.2f", mode, tps[1]/tps[0], lat[1]/lat[0])
			b.Logf("%-8s sluice/pgbouncer tps %.2f  latency %.2f", mode, tps[1]/tps[2], lat[1]/lat[2])
			b.ReportMetric(tps[1]/tps[2], mode+"-sluice/pgbouncer-tps")
		}
	}
}

func parseFloat(b *testing.B, out, pattern string) float64 {
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
// logging in as the superuser, and returns its port. pgbouncer refuses to run as root, so
// it runs as the postgres user.
func startPgbouncer(b *testing.B, host string, pgPort int, db string) string {
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
			return bouncerPort
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			b.Fatalf("pgbouncer did not start:\n%s", log)
		}
	}
}
