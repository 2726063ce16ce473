package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Delegation is a part of the hierarchy that the kernel lets a user other than root
// reorganise: the owner of a cgroup's cgroup.procs (or anyone, if the file is group- or
// world-writable) may move processes between any cgroups below it that it can also write.
// systemd hands out such subtrees (Delegate=yes) to user sessions, container runtimes and
// CI runners.
type Delegation struct {
	// Root is the highest cgroup, at or above the one asked about, whose cgroup.procs a
	// non-root user may write: the cgroup to enforce so that no move within the delegated
	// subtree leaves enforcement.
	Root string
	// UID owns Root's cgroup.procs.
	UID int
}

// Delegated reports whether processes in cgroup directory abs could be moved out of it by a
// user other than root, so that an enforced mode set on abs alone would not hold against
// them: that is so when a proper ancestor of abs is delegated. Moves stay inside the
// delegated subtree, so enforcing Delegation.Root instead covers every place they can reach.
func Delegated(abs string) (Delegation, bool, error) {
	mnt, err := Mount()
	if err != nil {
		return Delegation{}, false, err
	}
	abs = filepath.Clean(abs)
	var found Delegation
	var ok bool
	for dir := abs; ; dir = filepath.Dir(dir) {
		uid, writable, err := procsWriter(dir)
		if err != nil {
			return Delegation{}, false, err
		}
		if writable && dir != abs {
			found, ok = Delegation{Root: dir, UID: uid}, true
		}
		if dir == mnt || len(dir) <= len(mnt) {
			return found, ok, nil
		}
	}
}

// procsWriter reports the owner of dir's cgroup.procs and whether anyone but root may
// write it.
func procsWriter(dir string) (uid int, writable bool, err error) {
	fi, err := os.Stat(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return 0, false, fmt.Errorf("cgroup %s: %w", Name(dir), err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false, fmt.Errorf("cgroup %s: no owner in %T", Name(dir), fi.Sys())
	}
	perm := fi.Mode().Perm()
	return int(st.Uid), (st.Uid != 0 && perm&0o200 != 0) || perm&0o022 != 0, nil
}
