package pglocal_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// postmasterPid reads the postmaster's pid from its pid file.
func postmasterPid(t *testing.T, s *pglocal.Server) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("postmaster.pid starts with %q", first)
	}
	return pid
}

// TestNetns starts a server in a network namespace and checks that it runs there as the
// postgres user, that a client inside the namespace reaches it over TCP, that setup through
// the unix socket works from outside, and that Stop leaves no process in the namespace.
func TestNetns(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "db")
	s := testenv.Postgres(t, pglocal.Options{Netns: ns})
	if err := s.Exec(t.Context(), "create table t (v int); insert into t values (42)"); err != nil {
		t.Fatal(err)
	}

	pid := strconv.Itoa(postmasterPid(t, s))
	var want, got [2]string
	fi, err := os.Stat(filepath.Join("/run/netns", ns))
	if err != nil {
		t.Fatal(err)
	}
	want[0] = fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)
	got[0], _ = os.Readlink("/proc/" + pid + "/ns/net")
	pg, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	want[1] = pg.Uid
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			got[1] = f[1]
		}
	}
	if got != want {
		t.Errorf("postmaster %s runs in %s as uid %s; want %s as %s", pid, got[0], got[1], want[0], want[1])
	}

	psql := testenv.NetnsCommand(t.Context(), ns, "psql", "-X", "-At", "-d", s.ConnString("postgres", "postgres"),
		"-c", "select inet_client_addr(), v from t")
	out, err := psql.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "127.0.0.1|42" {
		t.Errorf("psql over TCP inside %s: %q, %v; want 127.0.0.1|42", ns, out, err)
	}

	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if pids, err := exec.Command("ip", "netns", "pids", ns).Output(); err != nil || len(pids) > 0 {
		t.Errorf("processes left in %s after Stop: %q, %v", ns, pids, err)
	}
}

func TestNetnsMissing(t *testing.T) {
	testenv.RequireRoot(t)
	for _, name := range []string{"sluice-no-such-netns", "../netns"} {
		if _, err := pglocal.Start(t.Context(), pglocal.Options{Netns: name}); err == nil || !strings.Contains(err.Error(), "network namespace") {
			t.Errorf("Start in network namespace %q: %v; want an error naming it", name, err)
		}
	}
}

// helperEnv names the namespace TestHelperNetnsServer starts its server in.
const helperEnv = "SLUICE_PGLOCAL_HELPER_NETNS"

// TestHelperNetnsServer is not a test of its own: TestNetnsServerDiesWithParent runs the test
// binary with only it selected, to have a process start a server in a namespace and die.
func TestHelperNetnsServer(t *testing.T) {
	ns := os.Getenv(helperEnv)
	if ns == "" {
		t.Skip("runs only as TestNetnsServerDiesWithParent's helper process")
	}
	s, err := pglocal.Start(context.Background(), pglocal.Options{Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("server %d %s\n", postmasterPid(t, s), s.Dir)
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the parent kills it
}

// TestNetnsServerDiesWithParent checks that a server started in a namespace (where the switch
// to the postgres user happens after `ip netns exec`, and would clear the parent-death
// signal) still goes down when the process that started it is killed, as a crashed test is.
func TestNetnsServerDiesWithParent(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "db")
	helper, out := testenv.HelperProcess(t, "TestHelperNetnsServer", helperEnv+"="+ns)
	var pid int
	var dir string
	for pid == 0 && out.Scan() {
		fmt.Sscanf(out.Text(), "server %d %s", &pid, &dir)
	}
	if pid == 0 || !strings.HasPrefix(filepath.Base(dir), pglocal.DirPrefix) {
		t.Fatal("the helper started no server")
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // the killed helper could not

	_ = helper.Process.Kill()
	_ = helper.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return // gone, or dead and waiting to be reaped
		}
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still runs 10 s after the process that started it was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
