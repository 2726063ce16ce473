package audit

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as the writer it kills.
	if dir := os.Getenv(crashChildDirEnv); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashChildKeyEnv)))
	}
	os.Exit(m.Run())
}
