package testenv_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// TestMain shows the intended use of FindLeftovers: after all tests and their cleanups.
func TestMain(m *testing.M) {
	code := m.Run()
	if found, err := testenv.FindLeftovers(); err != nil || len(found) > 0 {
		fmt.Fprintf(os.Stderr, "leftovers: %v %v\n", found, err)
		code = 1
	}
	os.Exit(code)
}

func TestStartInCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.Cgroup(t, "")
	if !strings.HasPrefix(filepath.Base(cg), testenv.CgroupPrefix) {
		t.Errorf("cgroup %s is not named %s*", cg, testenv.CgroupPrefix)
	}
	cmd := exec.Command("sleep", "1000")
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true} // kept alongside the cgroup fd
	testenv.Start(t, cg, cmd)
	pid := cmd.Process.Pid

	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(procs)), strconv.Itoa(pid)) {
		t.Errorf("pid %d not in %s/cgroup.procs: %q", pid, cg, procs)
	}
	own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := "0::" + cgroup.Name(cg) + "\n"; !strings.Contains(string(own), want) {
		t.Errorf("/proc/%d/cgroup = %q, want a line %q", pid, own, want)
	}
	if pgid, _ := unix.Getpgid(pid); pgid != pid {
		t.Errorf("Setpgid was lost: pgid %d, pid %d", pgid, pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func TestRunAndOutput(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.Cgroup(t, "")
	if got := testenv.Run(t, cg, exec.Command("sh", "-c", "echo out; echo err >&2")); got != "out\nerr\n" {
		t.Errorf("Run output = %q", got)
	}
	got := testenv.Run(t, cg, exec.Command("cat", "/proc/self/cgroup"))
	if !strings.Contains(got, "0::"+cgroup.Name(cg)+"\n") {
		t.Errorf("Run did not run in %s: %q", cg, got)
	}
	out, err := testenv.Output(cg, exec.Command("sh", "-c", "echo failing; exit 3"))
	if err == nil || string(out) != "failing\n" {
		t.Errorf("Output of a failing command = %q, %v", out, err)
	}
}

// TestCgroupCleanupKills checks that cleanup removes a cgroup tree whose processes (and their
// children, in nested cgroups) are still running.
func TestCgroupCleanupKills(t *testing.T) {
	testenv.RequireRoot(t)
	var cg string
	var cmds []*exec.Cmd
	t.Run("leak", func(t *testing.T) {
		cg = testenv.Cgroup(t, "")
		nested := testenv.Cgroup(t, cg)
		for _, dir := range []string{cg, nested} {
			// A shell with a background child: the grandchild must die too.
			cmd := exec.Command("sh", "-c", "sleep 1000 & sleep 1000")
			if err := cgroup.StartIn(dir, cmd); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		waitPopulated(t, nested, 2)
	})
	if _, err := os.Stat(cg); !os.IsNotExist(err) {
		t.Errorf("cgroup %s still exists after cleanup (err %v)", cg, err)
	}
	for _, cmd := range cmds {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s exited cleanly; want killed", cmd)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s (pid %d) still running after cleanup", cmd, cmd.Process.Pid)
			_ = cmd.Process.Kill()
		}
	}
}

// waitPopulated waits until dir holds n processes, so the test checks a started tree.
func waitPopulated(t *testing.T, dir string, n int) {
	t.Helper()
	for range 500 {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			t.Fatal(err)
		}
		if len(strings.Fields(string(b))) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never held %d processes", dir, n)
}

func TestBPFFS(t *testing.T) {
	testenv.RequireRoot(t)
	var dir string
	t.Run("mount", func(t *testing.T) {
		dir = testenv.BPFFS(t)
		var fs unix.Statfs_t
		if err := unix.Statfs(dir, &fs); err != nil {
			t.Fatal(err)
		}
		if fs.Type != unix.BPF_FS_MAGIC {
			t.Fatalf("%s has filesystem magic %#x, want BPF_FS_MAGIC", dir, fs.Type)
		}
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		pin := filepath.Join(dir, "m")
		if err := m.Pin(pin); err != nil {
			t.Fatal(err)
		}
		again, err := ebpf.LoadPinnedMap(pin, nil)
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("bpffs dir %s still exists after cleanup (err %v)", dir, err)
	}
}

func TestPostgres(t *testing.T) {
	testenv.RequireRoot(t)
	s := testenv.Postgres(t, pglocal.Options{})
	if got, err := s.Query(t.Context(), "select 1"); err != nil || got != "1" {
		t.Errorf("select 1 = %q, %v", got, err)
	}
}

func TestLeftovers(t *testing.T) {
	testenv.RequireRoot(t)
	var cg string
	t.Run("present", func(t *testing.T) {
		cg = testenv.Cgroup(t, "")
		found, err := testenv.FindLeftovers()
		if err != nil || !slices.Contains(found, cg) {
			t.Errorf("FindLeftovers() = %v, %v while %s exists", found, err, cg)
		}
	})
	testenv.Leftovers(t)
}
