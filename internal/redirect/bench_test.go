package redirect

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
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
// alternate in one run and the median ratio is reported; the target is <= 1.05.
func BenchmarkConnectNotEnforced(b *testing.B) {
	testenv.RequireRoot(b)
	root := testenv.Cgroup(b, "")
	if id, err := cgroup.ID(root); err == nil {
		attachRoots.Store(id, true)
	}
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

	// Many short rounds, alternating which variant goes first, and the median of the
	// per-round ratios: on a noisy 2-core machine this is far steadier than one long run.
	const rounds = 16
	per := b.N/rounds + 1
	var detached, attached time.Duration
	ratios := make([]float64, 0, rounds)
	b.ResetTimer()
	for i := range rounds {
		var d, a time.Duration
		if i%2 == 0 {
			d = timeConnects(b, dst, per)
		}
		r, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		a = timeConnects(b, dst, per)
		if err := r.Uninstall(); err != nil {
			b.Fatal(err)
		}
		if i%2 == 1 {
			d = timeConnects(b, dst, per)
		}
		detached += d
		attached += a
		ratios = append(ratios, float64(a)/float64(d))
	}
	b.StopTimer()
	n := float64(rounds * per)
	b.ReportMetric(float64(detached.Nanoseconds())/n, "ns/connect-detached")
	b.ReportMetric(float64(attached.Nanoseconds())/n, "ns/connect-attached")
	slices.Sort(ratios)
	b.ReportMetric((ratios[rounds/2-1]+ratios[rounds/2])/2, "attached/detached")
}

func timeConnects(b *testing.B, dst netip.AddrPort, n int) time.Duration {
	sa := &unix.SockaddrInet4{Addr: dst.Addr().As4(), Port: int(dst.Port())}
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
