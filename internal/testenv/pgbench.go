package testenv

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

// The helpers below are what the pgbench comparisons share (the proxy alone in
// internal/proxy, the whole agent in test/e2e): the pgbouncer they compare against, and the
// settings, medians and CPU accounting of their interleaved rounds.

// BenchSetting reads a positive integer from the environment variable name, or returns def,
// so a quieter machine can run more or longer rounds.
func BenchSetting(t testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// Median returns the median of f over rounds.
func Median[R any](rounds []R, f func(R) float64) float64 { return Quantile(rounds, f, 0.5) }

// Quantile returns the q-quantile (0 <= q <= 1) of f over rounds, interpolating between
// neighbouring values. Benchmarks report the quartiles beside a median so that a reader
// can tell a ratio that clears a target from one that straddles it on a noisy machine.
func Quantile[R any](rounds []R, f func(R) float64, q float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	i := int(pos)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (v[i+1]-v[i])*(pos-float64(i))
}

// ParseFloat reads the first submatch of pattern in out (pgbench's report) as a number.
func ParseFloat(t testing.TB, out []byte, pattern string) float64 {
	t.Helper()
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in pgbench output:\n%s", pattern, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ProcessCPU is the user and system CPU time process pid has used, all threads together;
// false if the process does not exist.
func ProcessCPU(t testing.TB, pid int) (time.Duration, bool) {
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
			t.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true
}

// HelperCPU is the CPU time used by the children of process pid that run as helper role
// (their argv[0], as selfexec names them), alive now.
func HelperCPU(t testing.TB, pid int, role string) time.Duration {
	var total time.Duration
	for _, child := range ChildPIDs(pid) {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", child))
		if err != nil {
			continue // exited meanwhile
		}
		if argv0, _, _ := bytes.Cut(cmdline, []byte{0}); string(argv0) == role {
			if cpu, ok := ProcessCPU(t, child); ok {
				total += cpu
			}
		}
	}
	return total
}

// ChildPIDs lists the children of every thread of process pid.
func ChildPIDs(pid int) []int {
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

// Pgbouncer runs pgbouncer in session mode in front of database db at host:pgPort, logging
// in as login with password, and returns its port and pid; cleanup stops it. pgbouncer
// refuses to run as root, so it runs as the postgres user, from a directory of its own.
func Pgbouncer(t testing.TB, host string, pgPort int, db, login, password string) (string, int) {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		t.Fatalf("pgbouncer is part of this comparison (apt-get install pgbouncer): %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	// Not t.TempDir: its parent is private to root, and pgbouncer runs as postgres.
	dir, err := os.MkdirTemp("", "sluice-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	logFile := filepath.Join(dir, "pgbouncer.log")
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s user=%s password=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = any
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = %s
`, db, host, pgPort, db, login, password, port, logFile)
	iniPath := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(iniPath, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, iniPath)
	var stderr SyncBuffer // what pgbouncer says before its log file is open
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return port, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("pgbouncer did not start:\n%s%s", stderr.String(), log)
		}
	}
}

// SideBySide times baseF and otherF in alternating rounds of b.N/10 calls each and reports
// each one's nanoseconds per call (ns/base, ns/other) and the median of the per-round
// ratios other/base: on a noisy machine that is far steadier than two separate runs.
func SideBySide(b *testing.B, base string, baseF func(), other string, otherF func()) {
	const rounds = 10
	n := max(b.N/rounds, 1)
	timeN := func(f func()) time.Duration {
		start := time.Now()
		for range n {
			f()
		}
		return time.Since(start)
	}
	var baseT, otherT time.Duration
	ratios := make([]float64, 0, rounds)
	for range rounds {
		bt, ot := timeN(baseF), timeN(otherF)
		baseT += bt
		otherT += ot
		ratios = append(ratios, float64(ot)/float64(bt))
	}
	total := float64(n * rounds)
	b.ReportMetric(float64(baseT.Nanoseconds())/total, "ns/"+base)
	b.ReportMetric(float64(otherT.Nanoseconds())/total, "ns/"+other)
	slices.Sort(ratios)
	b.ReportMetric((ratios[rounds/2-1]+ratios[rounds/2])/2, other+"/"+base)
}
