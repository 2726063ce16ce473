package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// HelperProcess runs this test binary again with only the test named test selected and
// env added: a process that sets something up, prints what it did and holds it until its
// stdin closes, as a concurrently running or crashed test binary would. The caller reads
// the helper's output from the returned scanner; the helper is killed when the calling test
// ends, or earlier through the returned command.
func HelperProcess(t testing.TB, test string, env ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	helper := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v")
	helper.Env = append(os.Environ(), env...)
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := helper.StdinPipe() // held open so the helper waits
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = helper.Process.Kill()
		_ = helper.Wait()
	})
	return helper, bufio.NewScanner(stdout)
}
