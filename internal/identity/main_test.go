package identity

import (
	"fmt"
	"os"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if left, err := testenv.FindLeftovers(); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "leftovers after the suite: %v %v\n", left, err)
		code = 1
	}
	os.Exit(code)
}
