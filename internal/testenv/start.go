package testenv

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// Start is StartIn failing the test on error. Cleanup kills the process if it still runs, so a
// failing test cannot leak it; the test still owns cmd.Wait.
func Start(t testing.TB, cg string, cmd *exec.Cmd) {
	t.Helper()
	if err := cgroup.StartIn(cg, cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // fails harmlessly if it already exited
}

// Output runs cmd to completion inside the cgroup cg and returns its combined stdout and
// stderr, for tests that expect a command to fail and want to inspect how.
func Output(cg string, cmd *exec.Cmd) ([]byte, error) {
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, errors.New("testenv.Output: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	cmd.Stdout = &b
	cmd.Stderr = &b
	if err := cgroup.StartIn(cg, cmd); err != nil {
		return nil, err
	}
	err := cmd.Wait()
	return b.Bytes(), err
}

// Run runs cmd to completion inside the cgroup cg and returns its combined output, failing the
// test with that output when the command fails, so the reason is in the test log.
func Run(t testing.TB, cg string, cmd *exec.Cmd) string {
	t.Helper()
	out, err := Output(cg, cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return string(out)
}
