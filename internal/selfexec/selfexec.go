// Package selfexec starts helper processes that are this very binary in another role:
// the agent's SQL parser workers and its audit syncer. A helper needs no separate binary
// to install or keep in version step, and a package that defines a role serves it from
// whatever binary links the package (the agent, the CLI, a test binary).
//
// A role is dispatched from the defining package's init function, before main or TestMain
// runs: the helper's process environment carries the role's marker variable.
package selfexec

import (
	"os"
	"os/exec"
	"syscall"
)

// Command returns the command that runs this binary as a helper: argv[0] names the role
// (what ps shows), env is its whole environment (the marker variable and the role's own
// settings; nothing of the parent's leaks in), and the helper is killed when the parent
// dies, so it never outlives the process it serves.
func Command(role string, env ...string) *exec.Cmd {
	return &exec.Cmd{
		// /proc/self/exe is this very binary even if the file was replaced on disk.
		Path:        "/proc/self/exe",
		Args:        []string{role},
		Env:         env,
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	}
}

// RawCallerCommand is Command for a helper whose one goroutine does nothing but block in
// raw system calls (the audit syncer): it runs with one processor and without async
// preemption, so the Go runtime has no thread to start and no signal to send while the
// helper waits, and the helper costs little more than its system calls.
func RawCallerCommand(role string, env ...string) *exec.Cmd {
	return Command(role, append(env, "GOMAXPROCS=1", "GODEBUG=asyncpreemptoff=1")...)
}

// Role reports whether this process was started as a helper with the given marker
// variable set to value.
func Role(marker, value string) bool { return os.Getenv(marker) == value }
