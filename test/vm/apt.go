package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// aptRoot is apt-get/apt-cache pointed at one Debian release only.
type aptRoot struct {
	dir  string
	opts []string
	log  io.Writer
}

// listsMaxAge is how long downloaded package lists are trusted before apt-get update runs
// again, so security updates of the kernels are picked up within a day.
const listsMaxAge = 24 * time.Hour

func (a *archive) aptFor(suite string) (*aptRoot, error) {
	dir := filepath.Join(a.cache, "apt", suite)
	for _, d := range []string{"lists/partial", "archives/partial", "sources.list.d"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	sources := fmt.Sprintf("deb [signed-by=%[1]s] %[2]s %[4]s main\ndeb [signed-by=%[1]s] %[3]s %[4]s-security main\n",
		a.keyring, a.mirror, a.security, suite)
	list := filepath.Join(dir, "sources.list")
	old, _ := os.ReadFile(list)
	changed := string(old) != sources
	if changed {
		if err := os.WriteFile(list, []byte(sources), 0o644); err != nil {
			return nil, err
		}
	}
	r := &aptRoot{dir: dir, log: a.log, opts: []string{
		"-o", "Dir::Etc::SourceList=" + list,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(dir, "sources.list.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache=" + dir,
		"-o", "Dir::Cache::Archives=" + filepath.Join(dir, "archives"),
		"-o", "APT::Architectures=amd64",
		"-o", "Acquire::Languages=none",
		"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
		"-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
		"-o", "APT::Sandbox::User=root", // the cache may not be readable by _apt
		"-q",
	}}
	stamp := filepath.Join(dir, "updated")
	if st, err := os.Stat(stamp); changed || err != nil || time.Since(st.ModTime()) > listsMaxAge {
		fmt.Fprintf(a.log, "apt-get update for Debian %s\n", suite)
		if _, err := r.run("apt-get", "update"); err != nil {
			return nil, err
		}
		if err := os.WriteFile(stamp, nil, 0o644); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *aptRoot) run(tool string, args ...string) (string, error) {
	cmd := exec.Command(tool, append(append([]string{}, r.opts...), args...)...)
	cmd.Dir = filepath.Join(r.dir, "archives")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", tool, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// dependency returns the package meta depends on whose name starts with prefix.
func (r *aptRoot) dependency(meta, prefix string) (string, error) {
	out, err := r.run("apt-cache", "depends", "--important", meta)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends: ")
		if ok && strings.HasPrefix(dep, prefix) {
			return dep, nil
		}
	}
	return "", fmt.Errorf("%s depends on no %s* package:\n%s", meta, prefix, out)
}

// candidate returns the version apt would download for pkg.
func (r *aptRoot) candidate(pkg string) (string, error) {
	out, err := r.run("apt-cache", "policy", pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate: "); ok && v != "(none)" {
			return v, nil
		}
	}
	return "", fmt.Errorf("apt has no candidate for %s:\n%s", pkg, out)
}

// download fetches the package into the apt root and returns the .deb's path.
func (r *aptRoot) download(pkg, version string) (string, error) {
	pattern := filepath.Join(r.dir, "archives", pkg+"_*.deb")
	stale, _ := filepath.Glob(pattern) // left by an interrupted run
	for _, f := range stale {
		os.Remove(f)
	}
	if _, err := r.run("apt-get", "download", pkg+"="+version); err != nil {
		return "", err
	}
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d packages (%v)", pkg, len(m), err)
	}
	return m[0], nil
}
