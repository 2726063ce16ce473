package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The mutation removes exactly the getpeername hooks from the real attach.go, through an
// overlay that leaves the repository untouched.
func TestMutationOverlay(t *testing.T) {
	modRoot, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, err := findMutation("no-getpeername")
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(filepath.Join(modRoot, m.File))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path, err := m.overlay(modRoot, dir)
	if err != nil {
		t.Fatal(err)
	}
	var o struct{ Replace map[string]string }
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	mutated, err := os.ReadFile(o.Replace[filepath.Join(modRoot, m.File)])
	if err != nil {
		t.Fatalf("overlay %s does not replace %s: %v", b, m.File, err)
	}
	for _, d := range m.Drop {
		if strings.Contains(string(mutated), d) {
			t.Errorf("mutated file still contains %q", d)
		}
	}
	if got, want := strings.Count(string(orig), "\n")-strings.Count(string(mutated), "\n"), len(m.Drop); got != want {
		t.Errorf("mutation removed %d lines, want %d", got, want)
	}
	if now, _ := os.ReadFile(filepath.Join(modRoot, m.File)); string(now) != string(orig) {
		t.Error("the mutation modified the repository's file")
	}
}

// A mutation whose lines are no longer in the file must fail instead of doing nothing.
func TestMutationThatNoLongerAppliesFails(t *testing.T) {
	root := t.TempDir()
	m := mutation{Name: "stale", File: "a.go", Drop: []string{"gone,"}}
	if err := os.WriteFile(filepath.Join(root, "a.go"), []byte("package a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := m.overlay(root, t.TempDir()); err == nil || !strings.Contains(err.Error(), "update the mutation") {
		t.Fatalf("overlay of a stale mutation: %v, want an error asking to update it", err)
	}
}
