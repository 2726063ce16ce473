package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

// readArchive lists the entries of (possibly concatenated) cpio archives, as the kernel
// unpacks them, with each regular file's content.
func readArchive(t *testing.T, b []byte) (names []string, files map[string]string) {
	t.Helper()
	files = map[string]string{}
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		cr := cpio.NewReader(r)
		for {
			h, err := cr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if h.Mode.IsRegular() {
				c, err := io.ReadAll(cr)
				if err != nil {
					t.Fatal(err)
				}
				files[h.Name] = string(c)
			}
		}
		// The reader stops after the trailer; the next archive starts at a 4-byte boundary
		// past padding, which newc writers fill with zeros.
		for r.Len() > 0 {
			c, _ := r.ReadByte()
			if c != 0 {
				r.UnreadByte()
				break
			}
		}
	}
	return names, files
}

func TestInitramfsLayout(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	busybox := write("busybox", "BUSYBOX")
	for _, s := range suites {
		write(s.Name+".test", "TEST "+s.Name)
	}
	lib := write("host/lib/x86_64-linux-gnu/libc.so.6", "LIBC")
	mod := write("veth.ko.xz", "MODULE")
	base := filepath.Join(dir, "base.cpio")
	if err := buildInitramfs(base, busybox, dir, []string{lib}, 7*time.Minute); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.cpio")
	if err := withModules(full, base, []string{mod}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	names, files := readArchive(t, b)

	// Every file's parent directory comes before it: the kernel does not create them.
	seen := map[string]bool{".": true}
	for _, n := range names {
		if !seen[filepath.Dir(n)] {
			t.Errorf("%s comes before its directory", n)
		}
		seen[n] = true
	}
	want := map[string]string{
		"bin/busybox":                "BUSYBOX",
		strings.TrimPrefix(lib, "/"): "LIBC",
		"lib/modules/veth.ko.xz":     "MODULE",
		"pkg/redirect/redirect.test": "TEST redirect",
	}
	for name, content := range want {
		if files[name] != content {
			t.Errorf("%s = %q, want %q", name, files[name], content)
		}
	}
	initSh := files["init"]
	for _, s := range suites {
		if !strings.Contains(initSh, "./"+s.Name+".test -test.v=test2json -test.count=1 -test.timeout=7m0s") {
			t.Errorf("init does not run suite %s:\n%s", s.Name, initSh)
		}
	}
	if !strings.Contains(initSh, "'-test.skip=^TestPostgres$'") {
		t.Errorf("init does not pass testenv's -test.skip quoted:\n%s", initSh)
	}
}
