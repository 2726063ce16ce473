// Package e2e runs sluice as its operators do: the real binary, started from a config
// file, on the real kernel with its own cgroups and bpffs, in front of a real PostgreSQL,
// with unmodified clients (psql, pgbench) started inside enforced cgroups.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

// sluiceBin is the binary under test, built once by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	if scenario := os.Getenv(clientEnv); scenario != "" {
		os.Exit(clientMain(scenario))
	}
	dir, err := os.MkdirTemp("", "sluice-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "github.com/sluicehq/sluice/cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if left, err := testenv.NetnsLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "network namespaces left after the suite: %v %v\n", left, err)
		code = 1
	}
	if left, err := testenv.FindLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leftovers after the suite: %v %v\n", left, err)
		code = 1
	}
	os.Exit(code)
}
