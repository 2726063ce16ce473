package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// CgroupPrefix starts the name of every cgroup Cgroup creates. The creating process's pid
// follows it, so Leftovers can tell this process's leaks from cgroups that the test binaries
// of other packages, running at the same time, still use.
const CgroupPrefix = "sluice-test-"

// Cgroup creates a uniquely named cgroup under parent (an absolute cgroup directory; "" means
// the root of the cgroup2 mount) and returns its absolute path. Tests get their own cgroup so
// they can attach programs and place processes without touching the machine's real ones.
// Cleanup kills every process left in it or its descendants and removes the whole subtree.
func Cgroup(t testing.TB, parent string) string {
	t.Helper()
	if parent == "" {
		mnt, err := cgroup.Mount()
		if err != nil {
			t.Fatal(err)
		}
		parent = mnt
	}
	dir, err := cgroup.Create(parent, CgroupPrefix+pidTag())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cgroup.Remove(dir); err != nil {
			t.Errorf("removing test cgroup: %v", err)
		}
	})
	return dir
}

// DelegateCgroup hands the cgroup subtree at dir to user uid as systemd's Delegate=yes does:
// its directories and their cgroup.procs, cgroup.threads and cgroup.subtree_control files
// become uid's, so processes of uid may move between the cgroups of the subtree.
func DelegateCgroup(t testing.TB, dir string, uid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		for _, name := range []string{"", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"} {
			if err := os.Chown(filepath.Join(path, name), uid, uid); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("delegating cgroup %s: %v", dir, err)
	}
}
