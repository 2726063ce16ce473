package cgroup_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

func TestMount(t *testing.T) {
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Fatal(err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(mnt, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Errorf("Mount() = %s, which is not a cgroup2 filesystem (magic %#x)", mnt, fs.Type)
	}
}

func TestResolveAndName(t *testing.T) {
	testenv.RequireRoot(t)
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Fatal(err)
	}
	cg := testenv.Cgroup(t, "")
	child := testenv.Cgroup(t, cg)
	name := "/" + filepath.Base(cg)
	childName := name + "/" + filepath.Base(child)

	for _, tc := range []struct{ in, want string }{
		{cg, cg},
		{cg + "/", cg},
		{name, cg},
		{strings.TrimPrefix(name, "/"), cg},
		{childName, child},
		{strings.TrimPrefix(childName, "/"), child},
		{name + "//" + filepath.Base(child) + "/.", child},
		{mnt, mnt},
		{"/", mnt},
	} {
		if got, err := cgroup.Resolve(tc.in); err != nil || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}

	for _, in := range []string{"", "..", "../etc", name + "/../" + filepath.Base(cg), cg + "/../.."} {
		if got, err := cgroup.Resolve(in); err == nil {
			t.Errorf("Resolve(%q) = %q, want an error", in, got)
		}
	}
	_, err = cgroup.Resolve("/no-such-cgroup-for-sluice")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no-such-cgroup-for-sluice") {
		t.Errorf("Resolve of a missing cgroup: %v; want ErrNotExist naming the path", err)
	}
	if _, err := cgroup.Resolve(name + "/cgroup.procs"); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Resolve of a file: %v; want 'not a directory'", err)
	}

	for in, want := range map[string]string{cg: name, cg + "/": name, child: childName, mnt: "/", "/etc": "/etc"} {
		if got := cgroup.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}
