// Package demo runs sluice end to end on the local machine with nothing set up beforehand:
// what `make demo` shows a newcomer. Everything it creates (cgroups, bpffs pins, listeners,
// temporary directories) is removed before it returns, also on failure.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/redirect"
)

// dbAddr is the database address the demo's "AI agent" believes in. It is on loopback, so
// nothing could leave the machine even if the redirect failed (then psql is refused).
var dbAddr = netip.MustParseAddrPort("127.0.0.2:5432")

// Run performs the demo and writes a short narrative to out.
func Run(ctx context.Context, out io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("the demo loads eBPF programs and creates cgroups: run it as root")
	}
	var undo cleanups
	defer func() { err = errors.Join(err, undo.run()) }()

	mount, err := cgroup.Mount()
	if err != nil {
		return err
	}
	root, err := cgroup.Create(mount, "sluice-demo-")
	if err != nil {
		return err
	}
	undo.add(func() error { return cgroup.Remove(root) })
	job := filepath.Join(root, "ci-job")
	if err := os.Mkdir(job, 0o755); err != nil {
		return err
	}
	pins, err := mountBPFFS()
	if err != nil {
		return err
	}
	undo.add(func() error { return unmountBPFFS(pins) })

	ln4, err := redirect.Listen(ctx, "tcp4", "127.0.0.1:0", redirect.DefaultListenerMark)
	if err != nil {
		return err
	}
	undo.add(ln4.Close)
	proxyPort := uint16(ln4.Addr().(*net.TCPAddr).Port)
	r, err := redirect.Open(redirect.Options{CgroupRoot: root, PinDir: filepath.Join(pins, "sluice"), ProxyPort: proxyPort})
	if err != nil {
		return err
	}
	undo.add(r.Uninstall)

	fmt.Fprintf(out, "sluice demo: programs attached at cgroup %s, agent listening on 127.0.0.1:%d\n", cgroup.Name(root), proxyPort)
	if err := r.SetMode(job, origin.ModeEnforce); err != nil {
		return err
	}
	fmt.Fprintf(out, "cgroup %s set to enforce; the \"AI agent\" runs: psql -h %s -p %d\n", cgroup.Name(job), dbAddr.Addr(), dbAddr.Port())

	seen := make(chan string, 1)
	go answer(ln4, r, seen)
	psqlOut, _ := runPsql(job)
	select {
	case line := <-seen:
		fmt.Fprintln(out, line)
	default:
		return fmt.Errorf("the connection never reached the agent; psql said: %s", psqlOut)
	}
	fmt.Fprintf(out, "psql saw: %s\n", strings.TrimSpace(psqlOut))
	s, err := r.Stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "kernel counters: %d redirected, %d refused, %d passed\n", s.Redirected, s.Refused, s.Passed)
	return nil
}

// answer plays the agent for one connection: look up the origin, report it, and tell the
// client (in its own protocol) where it landed.
func answer(ln net.Listener, r *redirect.Redirect, seen chan<- string) {
	c, err := ln.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	o, err := r.Lookup(c.RemoteAddr().(*net.TCPAddr).AddrPort(), c.LocalAddr().(*net.TCPAddr).AddrPort())
	if err != nil {
		seen <- "agent: connection without origin refused: " + err.Error()
		return
	}
	path, _ := cgroup.PathOf(o.CgroupID)
	seen <- fmt.Sprintf("agent: redirected connection from pid %d (%s) in cgroup %s, meant for %s, mode %s",
		o.PID, processName(o.PID), cgroup.Name(path), o.Dest, o.Mode)
	refuseStartup(c, fmt.Sprintf("sluice: connection to %s intercepted for cgroup %s", o.Dest, cgroup.Name(path)))
}

// refuseStartup completes the client's startup with a FATAL error, so psql exits cleanly.
func refuseStartup(c net.Conn, msg string) {
	be := pgproto3.NewBackend(c, c)
	for {
		m, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "08004", Message: msg})
		be.Flush()
		return
	}
}

func runPsql(cg string) (string, error) {
	cmd := exec.Command("psql", "-X", "-w", "-h", dbAddr.Addr().String(), "-p", strconv.Itoa(int(dbAddr.Port())),
		"-U", "agent", "-d", "app", "-c", "select 1")
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5")
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cgroup.StartIn(cg, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return b.String(), err
}

func processName(pid uint32) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "exited"
	}
	return strings.TrimSpace(string(b))
}

func mountBPFFS() (string, error) {
	dir, err := os.MkdirTemp("", "sluice-demo-bpffs-")
	if err != nil {
		return "", err
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("mount bpffs: %w", err)
	}
	return dir, nil
}

func unmountBPFFS(dir string) error {
	return errors.Join(unix.Unmount(dir, unix.MNT_DETACH), os.Remove(dir))
}

// cleanups undoes set-up steps in reverse order.
type cleanups []func() error

func (c *cleanups) add(f func() error) { *c = append(*c, f) }

func (c cleanups) run() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}
