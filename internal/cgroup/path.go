package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Resolve turns a cgroup path given by an operator (config file, CLI flag) into the absolute
// directory path of that cgroup, so that everything downstream works with one canonical form.
// An absolute path inside the cgroup2 mount is kept. Any other path, absolute like
// "/system.slice/x.service" or relative like "ci/job-42", is a hierarchy path and is taken
// relative to the mount, exactly as /proc/PID/cgroup shows it, so operators can paste what they
// see there. A path with a ".." element is refused rather than interpreted, so no input can
// name a directory outside the hierarchy. The cgroup must exist: enforcing a mode on a cgroup
// that does not exist would silently protect nothing.
func Resolve(p string) (string, error) {
	mnt, err := Mount()
	if err != nil {
		return "", err
	}
	if p == "" {
		return "", errors.New("empty cgroup path")
	}
	rel := p
	if p == mnt || strings.HasPrefix(p, mnt+"/") {
		rel = p[len(mnt):]
	}
	return inHierarchy(mnt, rel)
}

// Name returns the hierarchy path of the cgroup directory abs: relative to the cgroup2 mount,
// with a leading "/" ("/" for the root). This is the form /proc/PID/cgroup shows, so it is the
// form logs, audit records and operator output use. A path outside the hierarchy is returned
// unchanged, so a log line still shows what was there instead of a misleading name.
func Name(abs string) string {
	mnt, err := Mount()
	if err != nil {
		return abs
	}
	abs = filepath.Clean(abs)
	if abs == mnt {
		return "/"
	}
	if rel, ok := strings.CutPrefix(abs, mnt+"/"); ok {
		return "/" + rel
	}
	return abs
}

// inHierarchy joins the hierarchy path rel onto the mount mnt and checks that the result is an
// existing cgroup directory. It is shared by Resolve and Self so both enforce the same rules.
func inHierarchy(mnt, rel string) (string, error) {
	if slices.Contains(strings.Split(rel, "/"), "..") {
		return "", fmt.Errorf("cgroup path %q: \"..\" is not allowed in cgroup paths", rel)
	}
	abs := filepath.Join(mnt, rel)
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("cgroup %q: %w", rel, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("cgroup %q: %s is not a directory", rel, abs)
	}
	return abs, nil
}
