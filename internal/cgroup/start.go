package cgroup

import (
	"fmt"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// StartIn starts cmd with its process born inside the cgroup directory cg (clone3 with
// CLONE_INTO_CGROUP), so it never runs, not even for an instant, in the parent's cgroup, and
// every connect it makes is seen in cg. Other SysProcAttr fields of cmd are kept.
func StartIn(cg string, cmd *exec.Cmd) error {
	fd, err := unix.Open(cg, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening cgroup %s: %w", cg, err)
	}
	defer unix.Close(fd)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = fd
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s in cgroup %s: %w", cmd, cg, err)
	}
	return nil
}
