// Package cgroup finds and names cgroup v2 directories and translates between their paths and
// their kernel ids. The eBPF programs see a cgroup only as the 64-bit id returned by
// bpf_get_current_cgroup_id(), while operators and logs speak in paths, so the loader, the
// proxy and the agent all need the same, exact mapping in both directions.
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// mountinfo is where the mount table is read from. It is the calling process's view, which is
// the one that matters: paths returned by this package are opened by this process.
const mountinfo = "/proc/self/mountinfo"

// mount caches the cgroup2 mount point: the mount table is parsed once per process, because
// every path and id translation needs it and the mount does not move while the agent runs.
var mount = sync.OnceValues(func() (string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return "", fmt.Errorf("cgroup v2 is required: reading mount table: %w", err)
	}
	defer f.Close()
	return findCgroup2(f)
})

// Mount returns the absolute path where the cgroup v2 hierarchy is mounted. It is discovered
// from /proc/self/mountinfo rather than assumed, because hybrid v1/v2 hosts mount it at
// /sys/fs/cgroup/unified while pure v2 hosts mount it at /sys/fs/cgroup. The result (or
// error) is computed once and cached for the life of the process.
func Mount() (string, error) {
	return mount()
}

// findCgroup2 returns the mount point of the cgroup2 filesystem listed in a mountinfo table.
// A mount of the hierarchy's root ("/") is preferred over a bind mount of a subtree, because
// only at the root do directory paths match the paths in /proc/PID/cgroup.
func findCgroup2(r io.Reader) (string, error) {
	var subtree string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		root, point, fstype, ok := parseMountinfoLine(sc.Text())
		if !ok || fstype != "cgroup2" {
			continue
		}
		if root == "/" {
			return point, nil
		}
		if subtree == "" {
			subtree = point
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("cgroup v2 is required: reading %s: %w", mountinfo, err)
	}
	if subtree != "" {
		return subtree, nil
	}
	return "", errors.New("cgroup v2 is required, but no cgroup2 filesystem is mounted (see " + mountinfo + ")")
}

// parseMountinfoLine extracts the root, mount point and filesystem type from one line of
// mountinfo (proc(5)). The optional fields vary in number, so the filesystem type is found
// after the " - " separator rather than at a fixed position.
func parseMountinfoLine(line string) (root, point, fstype string, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return "", "", "", false
	}
	fields := strings.Fields(pre)
	after := strings.Fields(post)
	if len(fields) < 5 || len(after) < 1 {
		return "", "", "", false
	}
	return unescapeOctal(fields[3]), unescapeOctal(fields[4]), after[0], true
}

// unescapeOctal undoes the kernel's \ooo escaping of spaces, tabs, newlines and backslashes in
// mountinfo paths, so a mount point containing such characters is returned as it really is.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
