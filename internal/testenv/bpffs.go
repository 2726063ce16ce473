package testenv

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// BPFFSPrefix starts the name of every directory BPFFS mounts on, followed by the creating
// process's pid, so Leftovers can find this process's leaks.
const BPFFSPrefix = "sluice-bpffs-"

// BPFFS mounts a fresh bpf filesystem on a new temporary directory and returns its path. Tests
// pin their programs and maps there instead of /sys/fs/bpf, so they neither see nor disturb the
// pins of a running agent or of other tests. Cleanup unmounts it (detached, so open pins do not
// block it) and removes the directory.
func BPFFS(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", BPFFSPrefix+pidTag())
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		_ = os.Remove(dir)
		t.Fatalf("mounting bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting bpffs %s: %v", dir, err)
			return
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing bpffs mount point: %v", err)
		}
	})
	return dir
}
