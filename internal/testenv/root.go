// Package testenv holds the helpers every sluice test that touches the real system shares:
// throwaway cgroups, processes started inside them, a private bpffs, a real PostgreSQL, and a
// final check that nothing was left behind. Each helper takes a testing.TB and registers its
// own cleanup, so a test cannot forget to undo what it set up.
package testenv

import (
	"os"
	"testing"
)

// RequireRoot fails the test when it does not run as uid 0. The tests using these helpers
// create cgroups, mount bpffs and start PostgreSQL as another user; skipping them silently
// would let a suite "pass" while testing nothing, so a non-root run is an error.
func RequireRoot(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Fatalf("this test needs root (real cgroups, bpffs, PostgreSQL run as the postgres user); running as uid %d: run it with sudo", uid)
	}
}
