package main

import (
	"debug/elf"
	"path/filepath"
	"testing"
)

// The guest gets the dynamic loader and every library the host tools load, transitively.
func TestHostFilesClosure(t *testing.T) {
	files, err := hostFiles()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range files {
		have[filepath.Base(f)] = true
	}
	for _, want := range []string{"ip", "ld-linux-x86-64.so.2", "libc.so.6"} {
		if !have[want] {
			t.Errorf("host files %v lack %s", files, want)
		}
	}
	for _, f := range files {
		e, err := elf.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		needed, err := e.ImportedLibraries()
		e.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needed {
			if !have[n] {
				t.Errorf("%s needs %s, which the guest would not get", f, n)
			}
		}
	}
}
