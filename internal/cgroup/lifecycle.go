package cgroup

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// removeTimeout bounds how long Remove waits for killed processes to leave a cgroup and
// for the kernel to let it be removed.
const removeTimeout = 10 * time.Second

// Create makes a new cgroup under parent (absolute) named prefix followed by random hex,
// so concurrent users (parallel tests, a demo next to an agent) never collide.
func Create(parent, prefix string) (string, error) {
	dir := filepath.Join(parent, prefix+randomHex(4))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cgroup: %w", err)
	}
	return dir, nil
}

// Remove kills every process in the cgroup subtree at dir and removes it, deepest first,
// because the kernel refuses to remove a cgroup that has children or processes. A cgroup
// already gone is fine. The demo and the tests use it to leave nothing behind.
func Remove(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := killAll(dir); err != nil {
		return err
	}
	return rmdirTree(dir)
}

// killAll kills every process in the subtree at dir and waits until the kernel reports the
// subtree unpopulated. cgroup.kill (Linux 5.14+) does this atomically, even for processes
// forking concurrently; older kernels get SIGKILL for each listed pid until none remain.
func killAll(dir string) error {
	useKillFile, err := requestKill(dir)
	if err != nil {
		return fmt.Errorf("killing processes in %s: %w", dir, err)
	}
	deadline := time.Now().Add(removeTimeout)
	for {
		populated, err := isPopulated(dir)
		if err != nil || !populated {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in %s after %v", dir, removeTimeout)
		}
		if !useKillFile {
			if err := killListed(dir); err != nil {
				return err
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requestKill writes "1" to cgroup.kill of dir, and reports false if the kernel has no such
// file. The file is not created: cgroupfs cannot create files, so O_CREAT would turn "missing"
// into a misleading permission error.
func requestKill(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, "cgroup.kill"), os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = f.WriteString("1")
	return true, errors.Join(err, f.Close())
}

// isPopulated reports whether any process is in the subtree at dir, from cgroup.events.
func isPopulated(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	return bytes.Contains(b, []byte("populated 1")), nil
}

// killListed sends SIGKILL to every process listed in cgroup.procs of dir and its descendants.
func killListed(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL) // it may have exited meanwhile
			}
		}
		return nil
	})
}

// rmdirTree removes the cgroup dir and its child cgroups, children first. Removal is retried
// on EBUSY for a short while, because the kernel releases a cgroup only after its last
// (already killed) task has finished exiting.
func rmdirTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := rmdirTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(removeTimeout)
	for {
		err := syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// randomHex returns n random bytes in hex, to make names unique among concurrent tests.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
