package pglocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const (
	// startTimeout bounds how long the server may take to accept connections.
	startTimeout = 60 * time.Second
	// portAttempts is how often a start is retried when the chosen port was taken between
	// picking and binding it.
	portAttempts = 5
	// logTailLines is how much of the server log an error message quotes.
	logTailLines = 20
)

// launch starts the postmaster on a free port and waits until it accepts connections. A port
// can only be picked by binding and releasing it, so another process may grab it in between;
// the start is then retried on a new port.
func (s *Server) launch(ctx context.Context, listen string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		err = s.startPostmaster(ctx, port, listen)
		if err == nil {
			return nil
		}
		if attempt == portAttempts || !errors.Is(err, errPortTaken) {
			return err
		}
	}
}

// errPortTaken marks a start that failed because another process bound the port first.
var errPortTaken = errors.New("port already in use")

// startPostmaster runs postgres on port, with its stderr in the log file, and waits until it
// is ready. On failure the process is gone and the error quotes the log.
func (s *Server) startPostmaster(ctx context.Context, port int, listen string) error {
	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	cmd := s.postmaster("-D", s.dataDir(),
		"-p", strconv.Itoa(port), "-k", s.SocketDir, "-c", "listen_addresses="+listen)
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Start()
	logf.Close() // the child holds its own copy
	if err != nil {
		return fmt.Errorf("pglocal: starting postgres: %w", err)
	}
	s.cmd, s.Port = cmd, port
	s.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit is reported through the log and readiness checks
		close(s.exited)
	}()

	err = s.waitReady(ctx)
	if err == nil {
		return nil
	}
	_ = s.shutdown() // the start error is the one to report
	tail := s.logTail()
	if strings.Contains(tail, "Address already in use") {
		err = errPortTaken
	}
	return fmt.Errorf("pglocal: PostgreSQL on port %d did not start: %w\nserver log:\n%s", port, err, tail)
}

// waitReady polls with pg_isready until the server accepts connections, the postmaster exits,
// or ctx ends. pg_isready is used rather than a socket probe because a server still
// recovering or starting up accepts the socket but refuses the session.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		check := exec.CommandContext(ctx, filepath.Join(s.bin, "pg_isready"), "-q",
			"-h", s.SocketDir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", "postgres")
		check.Env = childEnv()
		if check.Run() == nil {
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("postgres exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// freePort returns a TCP port that was free on all addresses a moment ago. It looks in the
// caller's network namespace even for a server in another (Options.Netns), where the port is
// then free all the more likely; a taken one is retried like any other.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("pglocal: picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dialHost returns the address clients should dial for a listen_addresses value: its first
// entry, with the wildcards replaced by the loopback address of their family.
func dialHost(listen string) string {
	first, _, _ := strings.Cut(listen, ",")
	switch first = strings.TrimSpace(first); first {
	case "*", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	default:
		return first
	}
}

// logTail returns the last lines of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-logTailLines):], "\n")
}
