package testenv

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/oidclocal"
	"github.com/sluicehq/sluice/internal/pglocal"
)

// Leftovers fails the test if this test process left any test cgroup, bpffs mount point or
// PostgreSQL temp directory behind. Call it from a suite's last test; TestMain, which has no
// testing.TB, calls FindLeftovers instead.
func Leftovers(t testing.TB) {
	t.Helper()
	found, err := FindLeftovers()
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("left behind by this test process:\n%s", strings.Join(found, "\n"))
	}
}

// FindLeftovers lists the test cgroups (anywhere in the cgroup2 hierarchy), bpffs mount points
// and PostgreSQL temp directories that this process created and did not remove. It only looks
// for names carrying this process's pid, because the test binaries of other packages run at
// the same time and their resources are not leaks. Leaks of a killed earlier run are not
// reported; the pid in their names says which run left them.
func FindLeftovers() ([]string, error) {
	tag := pidTag()
	var found []string
	mnt, err := cgroup.Mount()
	if err != nil {
		return nil, err
	}
	err = filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed by a concurrent test while walking
		}
		if err != nil || !d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), CgroupPrefix+tag) {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, prefix := range []string{BPFFSPrefix, pglocal.DirPrefix, oidclocal.DirPrefix} {
		m, err := filepath.Glob(filepath.Join(os.TempDir(), prefix+tag+"*"))
		if err != nil {
			return nil, err
		}
		found = append(found, m...)
	}
	return found, nil
}

// pidTag is the part of a resource name that says which process created it.
func pidTag() string {
	return strconv.Itoa(os.Getpid()) + "-"
}
