package redirect

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkConnectNotEnforced measures what the attached programs cost a connect() from a
// cgroup that is not enforced, to a port that is in the redirected set (the worst case for
// such a cgroup: the port test passes and the mode walk runs). Detached and attached rounds
// alternate in one run and the ratio is reported; the target is <= 1.05.
func BenchmarkConnectNotEnforced(b *testing.B) {
	testenv.RequireRoot(b)
	root := testenv.Cgroup(b, "")
	// The programs act on sockets created below the attach root: move this process there
	// (and back before the cgroup is removed) so its own connects are the ones measured.
	moveSelf(b, root)

	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dst := ln.Addr().(*net.TCPAddr).AddrPort()
	opts := Options{
		CgroupRoot: root,
		PinDir:     filepath.Join(testenv.BPFFS(b), "sluice"),
		ProxyPort:  dst.Port() + 1,
		Ports:      []uint16{dst.Port()},
	}

	const rounds = 6
	per := b.N/rounds + 1
	var detached, attached time.Duration
	b.ResetTimer()
	for range rounds {
		detached += timeConnects(b, dst.Addr().As4(), int(dst.Port()), per)
		r, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		attached += timeConnects(b, dst.Addr().As4(), int(dst.Port()), per)
		if err := r.Uninstall(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(rounds * per)
	b.ReportMetric(float64(detached.Nanoseconds())/n, "ns/connect-detached")
	b.ReportMetric(float64(attached.Nanoseconds())/n, "ns/connect-attached")
	b.ReportMetric(float64(attached)/float64(detached), "attached/detached")
}

func timeConnects(b *testing.B, addr [4]byte, port, n int) time.Duration {
	sa := &unix.SockaddrInet4{Addr: addr, Port: port}
	start := time.Now()
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Connect(fd, sa); err != nil {
			b.Fatal(err)
		}
		// Reset instead of TIME_WAIT, so long runs do not exhaust ephemeral ports.
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		unix.Close(fd)
	}
	return time.Since(start)
}

func moveSelf(b *testing.B, to string) {
	b.Helper()
	from, err := cgroup.Self()
	if err != nil {
		b.Fatal(err)
	}
	write := func(cg string) error {
		return os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
	}
	if err := write(to); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := write(from); err != nil {
			b.Errorf("moving back to %s: %v", from, err)
		}
	})
}
