package cgroup

import (
	"os/exec"
	"testing"
	"time"
)

// TestKillListed covers the path for kernels without cgroup.kill (before 5.14), which this
// machine's kernel would otherwise never take.
func TestKillListed(t *testing.T) {
	mnt, err := Mount()
	if err != nil {
		t.Fatal(err)
	}
	cg, err := Create(mnt, "sluice-test-killlisted-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Remove(cg) })
	cmd := exec.Command("sleep", "1000")
	if err := StartIn(cg, cmd); err != nil {
		t.Fatal(err)
	}
	if err := killListed(cg); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sleep survived killListed")
	}
	if populated, err := isPopulated(cg); err != nil || populated {
		t.Errorf("isPopulated after killListed = %v, %v", populated, err)
	}
}
