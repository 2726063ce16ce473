package cgroup_test

import (
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

// A cgroup is reported escapable when a proper ancestor is delegated, and the highest
// delegated ancestor is what to enforce instead; a delegated cgroup itself, or one below no
// delegation, is not.
func TestDelegated(t *testing.T) {
	testenv.RequireRoot(t)
	top := testenv.Cgroup(t, "")
	parent := testenv.Cgroup(t, top)
	job := testenv.Cgroup(t, parent)
	check := func(cg string, wantRoot string, wantUID int) {
		t.Helper()
		d, ok, err := cgroup.Delegated(cg)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case wantRoot == "" && ok:
			t.Errorf("Delegated(%s) = %+v, want not delegated", cgroup.Name(cg), d)
		case wantRoot != "" && (!ok || d.Root != wantRoot || d.UID != wantUID):
			t.Errorf("Delegated(%s) = %+v %v, want root %s uid %d", cgroup.Name(cg), d, ok, cgroup.Name(wantRoot), wantUID)
		}
	}
	check(job, "", 0)

	testenv.DelegateCgroup(t, parent, 65534)
	check(job, parent, 65534)
	check(parent, "", 0) // moves stay below parent: enforcing parent holds

	testenv.DelegateCgroup(t, top, 65533)
	check(job, top, 65533)
	check(parent, top, 65533)
}
