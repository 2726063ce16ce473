package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// suite is one package's compiled tests, run as a binary inside the VM.
type suite struct {
	Name string   // the binary's name in the VM and in reports
	Pkg  string   // package path relative to the module root
	Args []string // extra test flags
}

// suites are the packages whose tests need only a kernel: no PostgreSQL, no network
// beyond loopback, no tools beyond busybox.
var suites = []suite{
	{Name: "redirect", Pkg: "./internal/redirect"},
	{Name: "cgroup", Pkg: "./internal/cgroup"},
	// TestPostgres starts a real PostgreSQL, which the VM does not carry.
	{Name: "testenv", Pkg: "./internal/testenv", Args: []string{"-test.skip=^TestPostgres$"}},
	{Name: "kernelfeatures", Pkg: "./test/vm/kernelfeatures"},
}

// buildSuites compiles every suite into dir as a static binary for the amd64 guest. A
// non-nil mutation replaces one source file through the go command's -overlay, so the
// repository itself is never modified.
func buildSuites(modRoot, dir string, m *mutation) error {
	var overlay []string
	if m != nil {
		path, err := m.overlay(modRoot, dir)
		if err != nil {
			return err
		}
		overlay = []string{"-overlay", path}
	}
	for _, s := range suites {
		args := append([]string{"test", "-c", "-o", filepath.Join(dir, s.Name+".test"), "-trimpath", "-ldflags=-s -w"}, overlay...)
		cmd := exec.Command("go", append(args, s.Pkg)...)
		cmd.Dir = modRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go test -c %s: %w\n%s", s.Pkg, err, out)
		}
	}
	return nil
}

// mutation is a deliberate defect compiled into the suites to prove the matrix notices it:
// if the suites still pass with a hook gone, they did not really run in the VM.
type mutation struct {
	Name string
	What string
	File string // relative to the module root
	// Drop holds substrings of the lines removed from File. Each must match exactly one
	// line, so a change to the file that would make the mutation silently do nothing (or
	// something else) fails the build instead.
	Drop []string
}

var mutations = []mutation{
	{
		Name: "no-getpeername",
		What: "the cgroup/getpeername4 and getpeername6 programs are loaded but never attached",
		File: "internal/redirect/attach.go",
		Drop: []string{"ebpf.AttachCgroupInet4GetPeername,", "ebpf.AttachCgroupInet6GetPeername,"},
	},
}

func findMutation(name string) (*mutation, error) {
	var names []string
	for i, m := range mutations {
		if m.Name == name {
			return &mutations[i], nil
		}
		names = append(names, m.Name)
	}
	return nil, fmt.Errorf("unknown mutation %q: choose from %s", name, strings.Join(names, ", "))
}

// overlay writes the mutated file and an overlay description for the go command into dir.
func (m *mutation) overlay(modRoot, dir string) (string, error) {
	orig := filepath.Join(modRoot, m.File)
	src, err := os.ReadFile(orig)
	if err != nil {
		return "", err
	}
	var kept [][]byte
	hits := make([]int, len(m.Drop))
	for _, line := range bytes.SplitAfter(src, []byte("\n")) {
		i := slices.IndexFunc(m.Drop, func(p string) bool { return bytes.Contains(line, []byte(p)) })
		if i < 0 {
			kept = append(kept, line)
			continue
		}
		hits[i]++
	}
	for i, n := range hits {
		if n != 1 {
			return "", fmt.Errorf("mutation %s: %d lines of %s contain %q, want 1: update the mutation in test/vm/suites.go", m.Name, n, m.File, m.Drop[i])
		}
	}
	mutated := filepath.Join(dir, "mutated-"+filepath.Base(m.File))
	if err := os.WriteFile(mutated, bytes.Join(kept, nil), 0o644); err != nil {
		return "", err
	}
	desc, err := json.Marshal(map[string]map[string]string{"Replace": {orig: mutated}})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "overlay.json")
	return path, os.WriteFile(path, desc, 0o644)
}
