// Package pglocal starts throwaway, real PostgreSQL servers from the distribution's server
// binaries. Tests need the real server (no mock of the wire protocol, authentication or SQL
// semantics can be trusted to match), and `sluice demo` needs a database it can create and
// discard without touching any existing cluster.
package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// DirPrefix starts the name of every temporary directory Start creates, followed by the
// creating process's pid and a random suffix, so leak checks and operators can tell which run
// left a directory behind.
const DirPrefix = "sluice-pg-"

// Server is a running throwaway PostgreSQL. Its superuser is "postgres"; connections over the
// unix socket are always trusted, TCP connections use Options.HostAuth.
type Server struct {
	// Host is the address TCP clients should dial: the first listen address, with a wildcard
	// replaced by the loopback address of its family.
	Host string
	// Port is the TCP port, which is also the suffix of the unix socket's name.
	Port int
	// SocketDir is the directory holding the unix socket.
	SocketDir string
	// Dir is the temporary directory holding everything (data, socket, log); Stop removes it.
	Dir string
	// LogPath is the server log (its stderr), kept so tests can read what the server saw.
	LogPath string

	bin      string
	cred     *syscall.Credential
	netns    string
	cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// Start initialises a new cluster in a temporary directory and starts PostgreSQL on it as the
// postgres OS user (the server refuses to run as root), on a random free port. It returns once
// the server accepts connections. ctx bounds only the start-up; the server runs until Stop. It
// must be called as root, to hand the directory and the processes to the postgres user.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("pglocal: must run as root, to run PostgreSQL as the postgres OS user")
	}
	if opts.ListenAddresses == "" {
		opts.ListenAddresses = "127.0.0.1"
	}
	if opts.HostAuth == "" {
		opts.HostAuth = "trust"
	}
	if err := checkNetns(opts.Netns); err != nil {
		return nil, err
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", DirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Host:      dialHost(opts.ListenAddresses),
		SocketDir: dir,
		Dir:       dir,
		LogPath:   filepath.Join(dir, "postgres.log"),
		bin:       bin,
		cred:      cred,
		netns:     opts.Netns,
	}
	if err := s.initCluster(ctx, opts); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.launch(ctx, opts.ListenAddresses); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if opts.SuperuserPassword != "" {
		if err := s.setSuperuserPassword(ctx, opts.SuperuserPassword); err != nil {
			return nil, errors.Join(err, s.Stop())
		}
	}
	return s, nil
}

// dataDir is the cluster's data directory inside the server's temporary directory.
func (s *Server) dataDir() string {
	return filepath.Join(s.Dir, "data")
}

// Log returns the server log so far, for tests asserting on what the server executed or why a
// connection was refused.
func (s *Server) Log() (string, error) {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		return "", fmt.Errorf("reading PostgreSQL log: %w", err)
	}
	return string(b), nil
}
