package main

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// hostTools are programs copied from the host into the guest, with the shared libraries
// they load, for tests that need more than busybox offers. iproute2's ip manages the
// network namespaces of testenv.Netns; busybox's ip has no "netns".
var hostTools = []struct{ name, pkg string }{
	{"ip", "iproute2"},
}

// libDirs are the directories the dynamic loader searches by default on Debian amd64.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// hostFiles returns every host file the guest needs for hostTools, as absolute paths: the
// programs, their dynamic loader and the closure of their DT_NEEDED libraries. The guest
// gets each at the same path, where its loader looks.
func hostFiles() ([]string, error) {
	seen := map[string]bool{}
	var files []string
	var add func(path string) error
	add = func(path string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		files = append(files, path)
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				interp, err := readInterp(p)
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if err := add(interp); err != nil {
					return err
				}
			}
		}
		needed, err := f.ImportedLibraries()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, lib := range needed {
			found, err := findLib(lib)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", path, lib, err)
			}
			if err := add(found); err != nil {
				return err
			}
		}
		return nil
	}
	for _, t := range hostTools {
		path, err := exec.LookPath(t.name)
		if err != nil {
			path, err = exec.LookPath(filepath.Join("/usr/sbin", t.name))
		}
		if err != nil {
			return nil, fmt.Errorf("%s not found: apt-get install %s", t.name, t.pkg)
		}
		if err := add(path); err != nil {
			return nil, err
		}
	}
	return files, nil
}

func readInterp(p *elf.Prog) (string, error) {
	b := make([]byte, p.Filesz)
	if _, err := p.ReadAt(b, 0); err != nil {
		return "", fmt.Errorf("read PT_INTERP: %w", err)
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), nil
		}
	}
	return string(b), nil
}

func findLib(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in %v", libDirs)
}
