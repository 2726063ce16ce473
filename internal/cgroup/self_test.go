package cgroup_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

func TestSelf(t *testing.T) {
	testenv.RequireRoot(t)
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, "0::"); ok {
			line = strings.TrimSpace(rest)
		}
	}
	got, err := cgroup.Self()
	if err != nil {
		t.Fatal(err)
	}
	if cgroup.Name(got) != line {
		t.Errorf("Self() = %s, named %s; /proc/self/cgroup says %s", got, cgroup.Name(got), line)
	}

	cg := testenv.Cgroup(t, "")
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), helperEnv+"=self")
	if out := testenv.Run(t, cg, helper); out != cg {
		t.Errorf("Self() in a process started in %s = %q", cg, out)
	}
}
