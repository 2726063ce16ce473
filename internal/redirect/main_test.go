package redirect

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(clientEnv) != "" {
		os.Exit(clientMain(os.Args[1:]))
	}
	code := m.Run()
	// Acceptance: after the suite, no test cgroup, pin or link is left on the machine.
	if left, err := testenv.NetnsLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "network namespaces left after the suite: %v %v\n", left, err)
		code = 1
	}
	if left, err := testenv.FindLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leftovers after the suite: %v %v\n", left, err)
		code = 1
	}
	links, err := sluiceLinks()
	// Some kernels release a detached link a little later (5.10: ~70 ms after Uninstall,
	// seen in test/vm); a leak stays.
	for deadline := time.Now().Add(5 * time.Second); err == nil && len(links) > 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		links, err = sluiceLinks()
	}
	if err != nil || len(links) > 0 {
		fmt.Fprintf(os.Stderr, "sluice links still attached after the suite: %v %v\n", links, err)
		code = 1
	}
	os.Exit(code)
}
