package kernelfeatures_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/redirect"
	"github.com/sluicehq/sluice/internal/testenv"
)

// minimums are the kernel features sluice needs, as redirect's errors name them, and the
// first mainline release that has each (DESIGN.md, "Probe features").
var minimums = []struct {
	name         string
	major, minor int
}{
	{"sockops programs", 4, 13},
	{"cgroup sock_addr programs", 4, 17},
	{"bpf_sk_lookup_tcp in cgroup/connect", 4, 20},
	{"bpf_get_socket_cookie in sockops", 5, 0},
	{"bpf_get_current_ancestor_cgroup_id in cgroup/connect", 5, 7},
	{"bpf_get_netns_cookie in cgroup/connect", 5, 7},
	{"cgroup/getpeername4 hook", 5, 8},
	{"bpf_get_socket_cookie in cgroup/sock_release", 5, 9},
	{"cgroup/sock_release hook", 5, 9},
}

// helperEnv makes the test binary, re-executed in a private mount namespace, act as a
// process that calls redirect.Open on a machine without cgroup v2.
const helperEnv = "SLUICE_KERNELFEATURES_HELPER"

func TestMain(m *testing.M) {
	if mnt := os.Getenv(helperEnv); mnt != "" {
		os.Exit(openWithoutCgroup2(mnt, os.Args[1]))
	}
	code := m.Run()
	if left, err := testenv.FindLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leftovers after the suite: %v %v\n", left, err)
		code = 1
	}
	os.Exit(code)
}

// On this kernel, Open must succeed exactly when the kernel is new enough for every
// feature, and otherwise fail naming each feature the kernel is too old for.
func TestOpenNamesMissingFeatures(t *testing.T) {
	testenv.RequireRoot(t)
	release, major, minor := kernelVersion(t)
	var missing []string
	for _, f := range minimums {
		if major < f.major || major == f.major && minor < f.minor {
			missing = append(missing, f.name)
		}
	}
	r, err := redirect.Open(redirect.Options{
		CgroupRoot: testenv.Cgroup(t, ""),
		PinDir:     filepath.Join(testenv.BPFFS(t), "sluice"),
		ProxyPort:  freePort(t),
	})
	if err == nil {
		defer func() {
			if err := r.Uninstall(); err != nil {
				t.Error(err)
			}
		}()
	}
	switch {
	case len(missing) == 0 && err != nil:
		t.Fatalf("Linux %s has every feature sluice needs, but Open failed: %v", release, err)
	case len(missing) == 0:
		t.Logf("Linux %s has every feature sluice needs; Open succeeded", release)
	case err == nil:
		t.Fatalf("Linux %s lacks %s, but Open succeeded", release, strings.Join(missing, ", "))
	default:
		for _, f := range missing {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("Linux %s lacks %s, but Open's error does not name it: %v", release, f, err)
			}
		}
		t.Logf("Linux %s: Open refused, naming what is missing: %v", release, err)
	}
}

// A pin directory that is not on a bpffs is refused with a message saying so, before
// anything is loaded.
func TestOpenWithoutBPFFS(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	_, err := redirect.Open(redirect.Options{CgroupRoot: testenv.Cgroup(t, ""), PinDir: dir, ProxyPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "not on a bpffs") {
		t.Fatalf("Open with the pin directory %s on a plain filesystem: %v, want it refused naming bpffs", dir, err)
	}
}

// On a machine without cgroup v2 (here: a mount namespace where it is unmounted), Open is
// refused with a message naming cgroup v2.
func TestOpenWithoutCgroup2(t *testing.T) {
	testenv.RequireRoot(t)
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], filepath.Join(t.TempDir(), "pins"))
	cmd.Env = append(os.Environ(), helperEnv+"="+mnt)
	// A new mount namespace; the go runtime makes its mounts private first, so the
	// unmount below stays inside it.
	cmd.SysProcAttr = &unix.SysProcAttr{Unshareflags: unix.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "cgroup v2 is required") {
		t.Fatalf("Open without cgroup v2: %q, want it refused naming cgroup v2", out)
	}
	t.Logf("without cgroup v2, Open refused: %s", strings.TrimSpace(string(out)))
}

// openWithoutCgroup2 unmounts the cgroup2 filesystem at mnt (every mount stacked there) and
// prints redirect.Open's error. It fails if Open succeeds or cgroup v2 stays visible.
func openWithoutCgroup2(mnt, pinDir string) int {
	for {
		err := unix.Unmount(mnt, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) {
			break
		}
		if err != nil {
			fmt.Printf("unmount %s: %v\n", mnt, err)
			return 1
		}
	}
	if m, err := cgroup.Mount(); err == nil {
		fmt.Printf("a cgroup2 filesystem is still mounted at %s; the test cannot hide cgroup v2\n", m)
		return 1
	}
	r, err := redirect.Open(redirect.Options{PinDir: pinDir, ProxyPort: 1})
	if err == nil {
		fmt.Println("Open succeeded without cgroup v2")
		if err := r.Uninstall(); err != nil {
			fmt.Println(err)
		}
		return 1
	}
	fmt.Println(err)
	return 0
}

// kernelVersion returns the running kernel's release and its major and minor numbers.
func kernelVersion(t *testing.T) (release string, major, minor int) {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release = unix.ByteSliceToString(u.Release[:])
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		t.Fatalf("kernel release %q: %v", release, err)
	}
	return release, major, minor
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}
