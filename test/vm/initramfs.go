package main

import (
	"bytes"
	"debug/elf"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/cavaliergopher/cpio"
)

// marker starts every line the guest's init writes about the run itself (as opposed to
// test output), so the host can tell them apart.
const marker = "SLUICE-VM"

//go:embed init.sh.tmpl
var initScript string

var initTemplate = template.Must(template.New("init").Parse(initScript))

// renderInit returns the guest's /init for the suites.
func renderInit(testTimeout time.Duration) ([]byte, error) {
	for _, s := range suites {
		for _, a := range s.Args {
			if strings.Contains(a, "'") {
				return nil, fmt.Errorf("suite %s: argument %q cannot be single-quoted for the guest shell", s.Name, a)
			}
		}
	}
	var b bytes.Buffer
	err := initTemplate.Execute(&b, struct {
		Marker      string
		Suites      []suite
		TestTimeout time.Duration
	}{marker, suites, testTimeout})
	return b.Bytes(), err
}

// checkStatic fails unless path is a statically linked executable: the initramfs carries no
// dynamic loader or libraries.
func checkStatic(path, hint string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w (%s)", path, err, hint)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; the VM has no libraries (%s)", path, hint)
		}
	}
	return nil
}

// buildInitramfs writes an uncompressed newc cpio archive: busybox, /init, the host files
// (at their host paths), and each suite's test binary from binDir in its own directory
// /pkg/NAME (the working directory a test binary expects is its package's).
func buildInitramfs(path, busybox, binDir string, hostFiles []string, testTimeout time.Duration) (err error) {
	initSh, err := renderInit(testTimeout)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	a := &cpioTree{w: cpio.NewWriter(f), dirs: map[string]bool{".": true}}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run", "var"} {
		if err := a.dir(d); err != nil {
			return err
		}
	}
	if err := a.file("bin/busybox", busybox); err != nil {
		return err
	}
	if err := a.bytes("init", initSh); err != nil {
		return err
	}
	for _, h := range hostFiles {
		if err := a.file(strings.TrimPrefix(h, "/"), h); err != nil {
			return err
		}
	}
	for _, s := range suites {
		if err := a.file("pkg/"+s.Name+"/"+s.Name+".test", filepath.Join(binDir, s.Name+".test")); err != nil {
			return err
		}
	}
	return a.w.Close()
}

// withModules writes the base initramfs followed by a second archive holding the kernel's
// modules in /lib/modules: the kernel unpacks concatenated archives in order, so the large
// common part is built once per run.
func withModules(path, base string, modules []string) (err error) {
	b, err := os.ReadFile(base)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := f.Write(b); err != nil {
		return err
	}
	a := &cpioTree{w: cpio.NewWriter(f), dirs: map[string]bool{".": true}}
	for _, m := range modules {
		if err := a.file("lib/modules/"+filepath.Base(m), m); err != nil {
			return err
		}
	}
	return a.w.Close()
}

// cpioTree writes files into a cpio archive, each preceded by its parent directories: the
// kernel's initramfs unpacker does not create missing ones.
type cpioTree struct {
	w    *cpio.Writer
	dirs map[string]bool
}

func (a *cpioTree) dir(name string) error {
	if a.dirs[name] {
		return nil
	}
	if err := a.dir(filepath.Dir(name)); err != nil {
		return err
	}
	a.dirs[name] = true
	return a.w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeDir | 0o755})
}

// file adds the host file src (following symlinks) as an executable at name.
func (a *cpioTree) file(name, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return a.bytes(name, b)
}

func (a *cpioTree) bytes(name string, b []byte) error {
	if err := a.dir(filepath.Dir(name)); err != nil {
		return err
	}
	if err := a.w.WriteHeader(&cpio.Header{Name: name, Mode: cpio.TypeReg | 0o755, Size: int64(len(b))}); err != nil {
		return err
	}
	_, err := a.w.Write(b)
	return err
}
