package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// netnsIno returns the inode identifying the named namespace, as /proc/PID/ns/net shows it.
func netnsIno(t *testing.T, ns string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("net:[%d]", st.Ino)
}

// TestNetnsCommandInCgroup checks that a command built by NetnsCommand and started with Start
// runs in both the namespace and the cgroup, and that `ip netns exec` execs in place: the pid
// Start returns is the command's own, which is what cleanup kills and what the redirect
// programs see as tgid.
func TestNetnsCommandInCgroup(t *testing.T) {
	RequireRoot(t)
	ns := Netns(t, "ctr")
	cg := Cgroup(t, "")

	out := Run(t, cg, NetnsCommand(t.Context(), ns, "sh", "-c", "cat /proc/self/cgroup; readlink /proc/self/ns/net"))
	if !strings.Contains(out, "0::"+cgroup.Name(cg)+"\n") {
		t.Errorf("command did not run in cgroup %s:\n%s", cg, out)
	}
	if want := netnsIno(t, ns) + "\n"; !strings.HasSuffix(out, want) {
		t.Errorf("command did not run in %s (%s):\n%s", ns, want, out)
	}

	cmd := NetnsCommand(t.Context(), ns, "sleep", "1000")
	Start(t, cg, cmd)
	pid := strconv.Itoa(cmd.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for {
		comm, _ := os.ReadFile("/proc/" + pid + "/comm")
		link, _ := os.Readlink("/proc/" + pid + "/ns/net")
		if string(comm) == "sleep\n" && link == netnsIno(t, ns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %s is %q in %s; want sleep in %s", pid, comm, link, netnsIno(t, ns))
		}
		time.Sleep(10 * time.Millisecond)
	}
	procs, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Fields(string(procs)), pid) {
		t.Errorf("pid %s left cgroup %s: %q", pid, cg, procs)
	}
	if pids, err := netnsPids(ns); err != nil || !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("netnsPids(%s) = %v, %v; want it to include %s", ns, pids, err, pid)
	}
}

// TestNetnsCleanupKills checks that cleanup deletes a namespace whose processes still run.
func TestNetnsCleanupKills(t *testing.T) {
	RequireRoot(t)
	var ns string
	var cmd *exec.Cmd
	var pids []int
	t.Run("leak", func(t *testing.T) {
		ns = Netns(t, "leak")
		// Not bound to the test's context, which would kill it: the cleanup must.
		cmd = NetnsCommand(context.Background(), ns, "sh", "-c", "sleep 1000 & sleep 1000")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for len(pids) < 2 {
			time.Sleep(10 * time.Millisecond)
			pids = mustPids(t, ns)
		}
	})
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after cleanup (err %v)", ns, err)
	}
	if err := cmd.Wait(); err == nil {
		t.Errorf("%s exited cleanly; want killed", cmd)
	}
	for _, pid := range pids {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("process %d of the namespace survived its cleanup: %s", pid, stat)
		}
	}
}

func mustPids(t *testing.T, ns string) []int {
	t.Helper()
	pids, err := netnsPids(ns)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// TestSysctlPerNamespace checks that Sysctl and SetSysctl reach the namespace's own settings
// and leave the machine's alone.
func TestSysctlPerNamespace(t *testing.T) {
	RequireRoot(t)
	const key = "net.ipv4.conf.lo.route_localnet"
	before, err := Sysctl("", key)
	if err != nil {
		t.Fatal(err)
	}
	ns := Netns(t, "sysctl")
	want := "1"
	if before == "1" {
		want = "0"
	}
	if err := SetSysctl(ns, key, want); err != nil {
		t.Fatal(err)
	}
	if got, err := Sysctl(ns, key); err != nil || got != want {
		t.Errorf("%s in %s = %q, %v; want %q", key, ns, got, err, want)
	}
	if got, err := Sysctl("", key); err != nil || got != before {
		t.Errorf("machine's %s = %q, %v after setting it in %s; want %q", key, got, err, ns, before)
	}
}

// server accepts TCP connections in a namespace and reports each peer's address.
type server struct {
	addr  netip.AddrPort
	peers chan netip.AddrPort
}

// listenIn opens a listener on addr (port 0) in the namespace ns.
func listenIn(t *testing.T, ns string, addr netip.Addr) *server {
	t.Helper()
	var l net.Listener
	err := InNetns(ns, func() (err error) {
		l, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %q: %v", addr, ns, err)
	}
	s := &server{addr: l.Addr().(*net.TCPAddr).AddrPort(), peers: make(chan netip.AddrPort, 16)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
		}
	})
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return s
}

// dialFrom connects from the namespace ns to s and returns the connection's source address.
func dialFrom(ns string, s *server, timeout time.Duration) (netip.AddrPort, error) {
	var local netip.AddrPort
	err := InNetns(ns, func() error {
		c, err := net.DialTimeout("tcp", s.addr.String(), timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		return nil
	})
	return local, err
}

// expectPeer connects from ns to s and checks that s saw the connection come from want: the
// namespace's own address, not translated on the way.
func expectPeer(t *testing.T, ns string, s *server, want netip.Addr) {
	t.Helper()
	local, err := dialFrom(ns, s, 5*time.Second)
	if err != nil {
		t.Fatalf("connecting from %s to %s: %v", ns, s.addr, err)
	}
	select {
	case peer := <-s.peers:
		if peer != local || peer.Addr() != want {
			t.Errorf("%s saw a connection from %s; the client in %s used %s, want address %s", s.addr, peer, ns, local, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s accepted nothing", s.addr)
	}
}

// TestVethThroughTestHost builds node, container and database namespaces, checks the
// container reaches the node, reaches the database through the node only once the node
// forwards, and that addresses and names of the links differ.
func TestVethThroughTestHost(t *testing.T) {
	RequireRoot(t)
	node, ctr, db := Netns(t, "node"), Netns(t, "ctr"), Netns(t, "db")
	lc := Veth(t, node, ctr, VethOptions{IPv6: true})
	ld := Veth(t, node, db, VethOptions{IPv6: true})
	if lc.Prefix4.Overlaps(ld.Prefix4) || lc.Prefix6.Overlaps(ld.Prefix6) || lc.HostIface == ld.HostIface {
		t.Fatalf("links collide: %+v and %+v", lc, ld)
	}
	if lc.Iface != "eth0" || !lc.Prefix4.Contains(lc.Addr4) || !lc.Prefix4.Contains(lc.Host4) || !lc.Prefix6.Contains(lc.Addr6) {
		t.Fatalf("inconsistent link %+v", lc)
	}

	expectPeer(t, ctr, listenIn(t, node, lc.Host4), lc.Addr4)
	expectPeer(t, ctr, listenIn(t, node, lc.Host6), lc.Addr6)

	// A new namespace copies the machine's settings, which other tests may have changed.
	for _, key := range forwardKeys {
		if err := SetSysctl(node, key, "0"); err != nil {
			t.Fatal(err)
		}
	}
	db4, db6 := listenIn(t, db, ld.Addr4), listenIn(t, db, ld.Addr6)
	for _, s := range []*server{db4, db6} {
		// A host that does not forward drops the packets without an ICMP error.
		if _, err := dialFrom(ctr, s, time.Second); err == nil {
			t.Errorf("reached %s through a node that does not forward", s.addr)
		}
	}
	Veth(t, node, Netns(t, "router"), VethOptions{IPv6: true, Forward: true})
	for _, key := range []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"} {
		if v, err := Sysctl(node, key); err != nil || v != "1" {
			t.Errorf("%s in %s = %q, %v after a link with Forward", key, node, v, err)
		}
	}
	expectPeer(t, ctr, db4, lc.Addr4)
	expectPeer(t, ctr, db6, lc.Addr6)
}

// TestVethMachineHost wires two namespaces to the machine's namespace, the topology of a
// container reaching a database namespace through the node, and checks that everything it
// added to the machine is gone afterwards and that forwarding is back to its earlier value.
func TestVethMachineHost(t *testing.T) {
	RequireRoot(t)
	before := unheldSysctls(t)
	var links []*Link
	t.Run("wire", func(t *testing.T) {
		ctr, db := Netns(t, "ctr"), Netns(t, "db")
		lc := Veth(t, "", ctr, VethOptions{IPv6: true, Forward: true})
		ld := Veth(t, "", db, VethOptions{IPv6: true, Forward: true})
		links = []*Link{lc, ld}
		for _, key := range forwardKeys {
			if v, err := Sysctl("", key); err != nil || v != "1" {
				t.Errorf("machine's %s = %q, %v while links with Forward exist", key, v, err)
			}
		}
		expectPeer(t, ctr, listenIn(t, "", lc.Host4), lc.Addr4)
		expectPeer(t, ctr, listenIn(t, db, ld.Addr4), lc.Addr4)
		expectPeer(t, ctr, listenIn(t, db, ld.Addr6), lc.Addr6)
	})
	for _, l := range links {
		if _, err := netlink.LinkByName(l.HostIface); err == nil {
			t.Errorf("%s still exists in the machine's namespace after cleanup", l.HostIface)
		}
	}
	expectRestored(t, before)
}

var forwardKeys = []string{"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"}

// unheldSysctls returns those of the machine's forwarding settings no test process holds
// right now: the values the release of the last hold must bring back. A held setting shows
// another process's choice, not the machine's, and is left out.
func unheldSysctls(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := withStateLock(func() error {
		for _, key := range forwardKeys {
			live, err := pruneHolds(key)
			if err != nil {
				return err
			}
			if len(live) == 0 {
				if m[key], err = Sysctl("", key); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// expectRestored checks that the machine's forwarding settings are back to before, unless
// another test process holds them right now.
func expectRestored(t *testing.T, before map[string]string) {
	t.Helper()
	after := unheldSysctls(t)
	for key, want := range before {
		if got, ok := after[key]; ok && got != want {
			t.Errorf("machine's %s = %q after cleanup; want %q back", key, got, want)
		}
	}
}

// TestVethConcurrent creates links from parallel tests and checks no two share a subnet or a
// name.
func TestVethConcurrent(t *testing.T) {
	RequireRoot(t)
	node := Netns(t, "node")
	var mu sync.Mutex
	var links []*Link
	t.Run("group", func(t *testing.T) {
		for i := range 4 {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				for range 3 {
					l := Veth(t, node, Netns(t, "c"), VethOptions{})
					mu.Lock()
					links = append(links, l)
					mu.Unlock()
				}
			})
		}
	})
	for i, a := range links {
		for _, b := range links[i+1:] {
			if a.Prefix4.Overlaps(b.Prefix4) || a.HostIface == b.HostIface {
				t.Errorf("concurrent links collide: %+v and %+v", a, b)
			}
		}
	}
	if len(links) != 12 {
		t.Errorf("created %d links, want 12", len(links))
	}
}

// helperEnv selects the helper role in a re-executed test binary.
const helperEnv = "SLUICE_TESTENV_HELPER"

// TestHelperHolder is not a test of its own: TestStateAcrossProcesses runs the test binary
// with only it selected, so another process holds a subnet reservation and the forwarding
// setting, as a concurrently running test binary would.
func TestHelperHolder(t *testing.T) {
	start, err := strconv.Atoi(os.Getenv(helperEnv))
	if err != nil {
		t.Skip("runs only as TestStateAcrossProcesses's helper process")
	}
	idx, err := reserveSubnetFrom(start)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holdSysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("reserved %d\n", idx)
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the parent kills it
}

// TestStateAcrossProcesses checks the machine-wide state against another live process: its
// reservation is skipped and its hold keeps forwarding on past this process's release; once
// it dies (without releasing, like a killed test), both are reclaimed and the original value
// comes back.
func TestStateAcrossProcesses(t *testing.T) {
	RequireRoot(t)
	const key = "net.ipv4.ip_forward"
	before := unheldSysctls(t)
	helper, out := HelperProcess(t, "TestHelperHolder", helperEnv+"="+strconv.Itoa((os.Getpid()*31)%subnetCount))
	theirs := -1
	for theirs < 0 && out.Scan() {
		fmt.Sscanf(out.Text(), "reserved %d", &theirs)
	}
	if theirs < 0 {
		t.Fatal("helper reserved no subnet")
	}

	ours, err := reserveSubnetFrom(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if ours == theirs {
		t.Errorf("subnet %d was given to this process while the helper holds it", theirs)
	}
	if err := releaseState(subnetFile(ours)); err != nil {
		t.Fatal(err)
	}
	hold, err := holdSysctl(key, "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := releaseSysctl(key, hold); err != nil {
		t.Fatal(err)
	}
	if v, _ := Sysctl("", key); v != "1" {
		t.Errorf("%s = %q after this process released its hold while the helper holds it; want 1", key, v)
	}

	_ = helper.Process.Kill()
	_ = helper.Wait()
	if ours, err = reserveSubnetFrom(theirs); err != nil {
		t.Fatal(err)
	}
	if ours != theirs {
		t.Errorf("the dead helper's subnet %d was not reclaimed (got %d)", theirs, ours)
	}
	if err := releaseState(subnetFile(ours)); err != nil {
		t.Fatal(err)
	}
	if hold, err = holdSysctl(key, "1"); err != nil {
		t.Fatal(err)
	}
	if err := releaseSysctl(key, hold); err != nil {
		t.Fatal(err)
	}
	expectRestored(t, before)
}

// TestNetnsLeftovers checks that NetnsLeftovers sees a live namespace and reservation, and
// nothing once cleanup ran. It comes last in this file so the other tests' cleanups are done.
func TestNetnsLeftovers(t *testing.T) {
	RequireRoot(t)
	t.Run("present", func(t *testing.T) {
		ns := Netns(t, "present")
		idx, _ := strconv.Atoi(strings.TrimPrefix(Veth(t, "", ns, VethOptions{}).HostIface, "slv"))
		found, err := NetnsLeftovers()
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{filepath.Join(netnsDir, ns), filepath.Join(stateDir, subnetFile(idx))} {
			if !slices.Contains(found, want) {
				t.Errorf("NetnsLeftovers() = %v, lacking %s which exists", found, want)
			}
		}
	})
	found, err := NetnsLeftovers()
	if err != nil || len(found) > 0 {
		t.Errorf("NetnsLeftovers() = %v, %v after cleanup", found, err)
	}
}
