package cgroup_test

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// helperEnv makes the test binary, re-executed inside a test cgroup, act as a helper process
// instead of running tests, so behaviour can be checked from inside a cgroup other than ours.
const helperEnv = "SLUICE_CGROUP_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "self":
		p, err := cgroup.Self()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(p)
		os.Exit(0)
	case "connect":
		// Only the connect attempt matters (it fires the cgroup/connect4 hook), not its result.
		if c, err := net.Dial("tcp4", "127.0.0.1:9"); err == nil {
			c.Close()
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}
