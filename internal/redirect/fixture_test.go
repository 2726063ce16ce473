package redirect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/testenv"
)

// fixture is one attached Redirect on a private cgroup root and bpffs, a fake "database"
// that answers "direct", and marked proxy listeners that answer with the origin they look up.
type fixture struct {
	t     *testing.T
	root  string // attach root: a test cgroup
	opts  Options
	r     *Redirect
	db    uint16 // the redirected destination port
	proxy []net.Listener
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith lets a test adjust the options before the programs are opened.
func newFixtureWith(t *testing.T, edit func(*Options)) *fixture {
	t.Helper()
	testenv.RequireRoot(t)
	f := &fixture{t: t, root: testenv.Cgroup(t, "")}
	attachRoots.Store(mustID(t, f.root), true)
	f.db = serveDirect(t)
	f.opts = Options{
		CgroupRoot: f.root,
		PinDir:     testenv.BPFFS(t) + "/sluice",
		ProxyPort:  freePort(t),
		Ports:      []uint16{f.db},
	}
	if edit != nil {
		edit(&f.opts)
	}
	f.open()
	f.startProxy()
	return f
}

// open (re)opens the Redirect; the cleanup uninstalls whatever is pinned at the end.
func (f *fixture) open() {
	f.t.Helper()
	r, err := Open(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.r == nil {
		f.t.Cleanup(func() {
			if err := f.r.Uninstall(); err != nil {
				f.t.Errorf("uninstall: %v", err)
			}
		})
	}
	f.r = r
}

// startProxy listens on 127.0.0.1, ::1 and the node-local address (when set) with the
// agent's mark, like the agent does.
func (f *fixture) startProxy() {
	f.t.Helper()
	addrs := []string{"127.0.0.1", "::1"}
	if f.opts.NodeLocal4.IsValid() {
		addrs = append(addrs, f.opts.NodeLocal4.String())
	}
	for _, addr := range addrs {
		ln, err := Listen(context.Background(), "tcp", net.JoinHostPort(addr, strconv.Itoa(int(f.opts.ProxyPort))), DefaultListenerMark)
		if err != nil {
			f.t.Fatal(err)
		}
		f.proxy = append(f.proxy, ln)
		f.t.Cleanup(func() { ln.Close() })
		go serve(ln, func(c net.Conn) string {
			o, err := f.r.Lookup(addrPort(c.RemoteAddr()), addrPort(c.LocalAddr()))
			if err != nil {
				return "proxy lookup=" + err.Error()
			}
			return fmt.Sprintf("proxy mode=%s dest=%s cg=%d pid=%d", o.Mode, o.Dest, o.CgroupID, o.PID)
		})
	}
}

func (f *fixture) stopProxy() {
	for _, ln := range f.proxy {
		ln.Close()
	}
	f.proxy = nil
}

// child makes a cgroup below the attach root, optionally with an explicit mode.
func (f *fixture) child(parent string, mode origin.Mode) string {
	f.t.Helper()
	if parent == "" {
		parent = f.root
	}
	cg := testenv.Cgroup(f.t, parent)
	if mode != origin.ModeUnset {
		f.setMode(cg, mode)
	}
	return cg
}

func (f *fixture) setMode(cg string, mode origin.Mode) {
	f.t.Helper()
	if redirects(mode) {
		attachRoots.Store(mustID(f.t, cg), true) // it gets a sockops link of its own
	}
	if err := f.r.SetMode(cg, mode); err != nil {
		f.t.Fatal(err)
	}
}

// connect runs the client binary in cgroup cg: count connects to dst; one result per line.
func (f *fixture) connect(cg string, dst netip.AddrPort, count int, extra ...string) []string {
	f.t.Helper()
	out, err := clientOutput(cg, dst, count, extra...)
	if err != nil {
		f.t.Fatalf("client: %v\n%s", err, out)
	}
	return out
}

func clientOutput(cg string, dst netip.AddrPort, count int, extra ...string) ([]string, error) {
	return clientOutputIn("", cg, dst, count, extra...)
}

// clientOutputIn runs the client in network namespace ns (a container's) and cgroup cg.
func clientOutputIn(ns, cg string, dst netip.AddrPort, count int, extra ...string) ([]string, error) {
	args := append([]string{"connect", dst.String(), strconv.Itoa(count)}, extra...)
	cmd := testenv.NetnsCommand(context.Background(), ns, os.Args[0], args...)
	cmd.Env = append(os.Environ(), clientEnv+"=1")
	out, err := testenv.Output(cg, cmd)
	if err != nil {
		return []string{string(out)}, err
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n"), nil
}

// serveDirect starts the "database": listeners on 127.0.0.2 and ::1 on one port.
func serveDirect(t *testing.T) uint16 {
	t.Helper()
	for range 20 {
		ln4, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln4.Addr().(*net.TCPAddr).Port
		ln6, err := net.Listen("tcp", fmt.Sprintf("[::1]:%d", port))
		if err != nil {
			ln4.Close()
			continue
		}
		for _, ln := range []net.Listener{ln4, ln6} {
			t.Cleanup(func() { ln.Close() })
			go serve(ln, func(net.Conn) string { return "direct" })
		}
		return uint16(port)
	}
	t.Fatal("no port free on both 127.0.0.2 and ::1")
	return 0
}

func serve(ln net.Listener, greet func(net.Conn) string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			// Greet, then wait for the client to close first: closing with unread client
			// data (a fast-open payload) would reset the connection before the greeting
			// is read.
			fmt.Fprintln(c, greet(c))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			io.Copy(io.Discard, c)
			c.Close()
		}()
	}
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func addrPort(a net.Addr) netip.AddrPort {
	return a.(*net.TCPAddr).AddrPort()
}

func mustID(t *testing.T, cg string) uint64 {
	t.Helper()
	id, err := cgroup.ID(cg)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// attachRoots are the cgroup ids this test process attached programs to (the roots, and
// the redirecting cgroups below them, which get sockops). Other test
// binaries (e2e runs real agents) attach sluice programs to their own cgroups at the same
// time; only links on our roots are ours to account for.
var attachRoots sync.Map

// sluiceLinks lists the bpf_links on the machine that run one of our programs on a cgroup
// this process attached to.
func sluiceLinks() ([]string, error) {
	var found []string
	var it link.Iterator
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			return nil, err
		}
		if cg := info.Cgroup(); cg == nil {
			continue
		} else if _, ours := attachRoots.Load(cg.CgroupId); !ours {
			continue
		}
		p, err := ebpf.NewProgramFromID(info.Program)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pi, err := p.Info()
		p.Close()
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(pi.Name, "sluice_") {
			found = append(found, fmt.Sprintf("link %d -> %s", it.ID, pi.Name))
		}
	}
	return found, it.Err()
}

// netListen binds an unmarked listener, like a process squatting the proxy port would.
func netListen(host string, port uint16) (net.Listener, error) {
	return net.Listen("tcp", fmt.Sprintf("%s:%d", host, port))
}
