package pglocal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Stop shuts the server down and removes its directory, data and log included. It is safe to
// call more than once (later calls return the first result), so a test can stop the server
// early and still leave Stop in its cleanup.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = errors.Join(s.shutdown(), os.RemoveAll(s.Dir))
	})
	return s.stopErr
}

// shutdown stops the postmaster and waits until it has exited. It sends SIGINT first, the
// "fast" shutdown that `pg_ctl stop -m fast` sends, which ends sessions and exits cleanly
// (freeing shared memory); signalling our own child directly needs neither pg_ctl nor the pid
// file. A server that does not go in time gets SIGQUIT (immediate shutdown), then SIGKILL.
func (s *Server) shutdown() error {
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{syscall.SIGINT, 30 * time.Second},
		{syscall.SIGQUIT, 5 * time.Second},
		{syscall.SIGKILL, time.Minute},
	}
	for i, step := range steps {
		_ = s.cmd.Process.Signal(step.sig) // fails only if it already exited
		select {
		case <-s.exited:
			if i == 0 {
				return nil
			}
			return fmt.Errorf("pglocal: postgres ignored the fast shutdown request; stopped it with %v", step.sig)
		case <-time.After(step.wait):
		}
	}
	return fmt.Errorf("pglocal: postgres (pid %d) did not exit even after SIGKILL", s.cmd.Process.Pid)
}
