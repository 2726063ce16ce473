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
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsPrefix starts the name of every network namespace Netns creates; the creating process's
// pid follows, as for CgroupPrefix, so NetnsLeftovers can tell this process's leaks from the
// namespaces of test binaries running at the same time.
const NetnsPrefix = "sluice-netns-"

const (
	// netnsDir is where `ip netns add` bind-mounts named namespaces.
	netnsDir = "/run/netns"
	// stateDir holds what test processes on this machine must agree on: subnet reservations
	// and holds on host sysctls, each file named after its owner's pid, guarded by one flock.
	stateDir = "/run/sluice-testenv"
	// subnetCount /30 subnets fit in vethBase4.
	subnetCount = 1 << 14
)

var (
	// vethBase4 is the IPv4 range Veth carves its /30 subnets from, and vethBase6 the ULA /48
	// its IPv6 /64s come from (subnet id = the subnet's index). Neither is used on the machine's
	// own networks, and each subnet exists only on a veth pair a test created.
	vethBase4 = netip.MustParseAddr("10.250.0.0")
	vethBase6 = netip.MustParseAddr("fd51:1ce0:250::")
	// netnsSeq makes Netns names unique within this process.
	netnsSeq atomic.Uint64
)

// Netns creates a network namespace (`ip netns add`) with its loopback up, as a container
// runtime leaves it, and returns its name: NetnsPrefix, this process's pid, a counter and
// name, which only says what the namespace is for. Cleanup kills every process still in it
// and deletes it. The kernel starts a namespace with a copy of the machine's net.ipv4.conf and
// net.ipv6.conf "all"/"default" settings (forwarding, rp_filter, ...) as they are at that
// moment, so a test that depends on one sets it (SetSysctl).
func Netns(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		t.Fatalf("testenv.Netns: invalid name %q", name)
	}
	full := NetnsPrefix + pidTag() + strconv.FormatUint(netnsSeq.Add(1), 10) + "-" + name
	if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", full, err, out)
	}
	t.Cleanup(func() {
		if err := deleteNetns(full); err != nil {
			t.Errorf("removing network namespace: %v", err)
		}
	})
	if out, err := exec.Command("ip", "-n", full, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bringing up lo in %s: %v\n%s", full, err, out)
	}
	return full
}

// deleteNetns kills the processes in the namespace, then deletes its name. Killing comes
// first because a process (or a socket) keeps a namespace, and its veths, alive after
// `ip netns del`.
func deleteNetns(name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := netnsPids(name)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in network namespace %s survived SIGKILL", pids, name)
		}
		for _, pid := range pids {
			_ = unix.Kill(pid, unix.SIGKILL) // fails harmlessly if it exited meanwhile
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns del %s: %v: %s", name, err, out)
	}
	return nil
}

// netnsPids lists the processes (other than this one) whose network namespace is the named
// one, as `ip netns pids` does. Zombies hold no namespace and are not listed.
func netnsPids(name string) ([]int, error) {
	var ns unix.Stat_t
	if err := unix.Stat(filepath.Join(netnsDir, name), &ns); err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", name, err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Dev == ns.Dev && st.Ino == ns.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// NetnsCommand returns a command running name in the network namespace ns through
// `ip netns exec`, which enters the namespace and execs name in place: the process keeps its
// pid, cgroup and credentials. Start it with Start, Run or Output to have it born in a cgroup
// as well, which is how a test builds a "container" (own cgroup, own network namespace). ""
// means the machine's namespace: a plain command. Inside, /sys is the namespace's own sysfs,
// so the cgroup2 mount below it is not visible.
func NetnsCommand(ctx context.Context, ns, name string, arg ...string) *exec.Cmd {
	if ns == "" {
		return exec.CommandContext(ctx, name, arg...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, arg...)...)
}

// InNetns runs fn on an OS thread switched into the network namespace ns ("" runs it as is),
// so a test can configure the namespace or open sockets in it from its own process: a socket
// stays in the namespace it was created in. Goroutines fn starts run elsewhere. A thread that
// cannot be switched back is discarded, never reused in the wrong namespace.
func InNetns(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not undone on failure: the thread then ends with the goroutine
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("network namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("leaving network namespace %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Sysctl reads the sysctl key (dotted, e.g. "net.ipv4.ip_forward") in the network namespace
// ns ("" for the machine's): net.* sysctls are per namespace.
func Sysctl(ns, key string) (string, error) {
	var v string
	err := InNetns(ns, func() error {
		b, err := os.ReadFile(sysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// SetSysctl writes the sysctl key in the network namespace ns. It is meant for namespaces the
// test created, which take their settings with them; the machine's own are shared with every
// test running at the same time and change only through VethOptions.Forward, which restores
// them.
func SetSysctl(ns, key, value string) error {
	return InNetns(ns, func() error { return os.WriteFile(sysctlPath(key), []byte(value), 0) })
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

// VethOptions say what a Veth link carries besides IPv4.
type VethOptions struct {
	// IPv6 also gives both ends a ULA /64 and the namespace an IPv6 default route.
	IPv6 bool
	// Forward makes the host route between this namespace and its other links (e.g. a
	// container reaching a database namespace through the host) by enabling forwarding there
	// (IPv6 too with IPv6) for the test's duration. Off, the namespace reaches only the host
	// itself, which is all a node-local address needs.
	Forward bool
}

// Link is a veth pair between a test namespace and its host, as a container runtime wires a
// container to its node.
type Link struct {
	// HostNetns is the host's namespace ("" is the machine's) and Netns the other end's.
	HostNetns, Netns string
	// HostIface is the host end's name, unique on the machine; Iface the namespace's ("eth0").
	HostIface, Iface string
	// Prefix4 is the /30 the pair uses; Host4 is the host's address (the namespace's default
	// gateway) and Addr4 the namespace's, the source address its connections carry.
	Prefix4      netip.Prefix
	Host4, Addr4 netip.Addr
	// Prefix6, Host6 and Addr6 are the IPv6 equivalents (a /64), set with VethOptions.IPv6.
	Prefix6      netip.Prefix
	Host6, Addr6 netip.Addr
}

// Veth connects the namespace ns to hostNetns ("" for the machine's namespace) with a veth
// pair: "eth0" in ns, its default route via the host end, addresses from a subnet no other
// test process on the machine holds at the same time, so concurrent tests never collide.
// Cleanup deletes the pair, releases the subnet and restores any forwarding setting.
func Veth(t testing.TB, hostNetns, ns string, opts VethOptions) *Link {
	t.Helper()
	idx, err := reserveSubnet()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := releaseState(subnetFile(idx)); err != nil {
			t.Errorf("releasing veth subnet %d: %v", idx, err)
		}
	})
	l := newLink(idx, hostNetns, ns, opts.IPv6)
	peer, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatalf("network namespace %s: %v", ns, err)
	}
	defer peer.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.HostIface}, PeerName: l.Iface, PeerNamespace: netlink.NsFd(peer)}
	if err := withHandle(hostNetns, func(h *netlink.Handle) error { return h.LinkAdd(veth) }); err != nil {
		t.Fatalf("creating veth %s in %q to %s: %v", l.HostIface, hostNetns, ns, err)
	}
	t.Cleanup(func() {
		if err := deleteLink(hostNetns, l.HostIface); err != nil {
			t.Errorf("deleting veth %s: %v", l.HostIface, err)
		}
	})
	if err := configure(hostNetns, l.HostIface, l.Host4, l.Prefix4, l.Host6, l.Prefix6, netip.Addr{}, netip.Addr{}); err != nil {
		t.Fatalf("configuring host end %s: %v", l.HostIface, err)
	}
	if err := configure(ns, l.Iface, l.Addr4, l.Prefix4, l.Addr6, l.Prefix6, l.Host4, l.Host6); err != nil {
		t.Fatalf("configuring %s in %s: %v", l.Iface, ns, err)
	}
	for _, end := range [][2]string{{hostNetns, l.HostIface}, {ns, l.Iface}} {
		if err := waitOperUp(end[0], end[1]); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Forward {
		enableForwarding(t, hostNetns, opts.IPv6)
	}
	return l
}

// waitOperUp waits until the interface is operationally up. The kernel attaches a device's
// queueing discipline only then, in deferred work run at most once a second; until then it
// drops what is sent (measured: the first SYN through a fresh veth was lost and a connect took
// 1 s about every other run).
func waitOperUp(ns, iface string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var state netlink.LinkOperState
		err := withHandle(ns, func(h *netlink.Handle) error {
			link, err := h.LinkByName(iface)
			if err == nil {
				state = link.Attrs().OperState
			}
			return err
		})
		if err != nil || state == netlink.OperUp {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %q is still %s", iface, ns, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newLink computes the names and addresses of the pair using subnet idx.
func newLink(idx int, hostNetns, ns string, ipv6 bool) *Link {
	base := vethBase4.As4()
	off := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(idx*4)
	at := func(host uint32) netip.Addr {
		v := off + host
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	l := &Link{
		HostNetns: hostNetns, Netns: ns,
		HostIface: "slv" + strconv.Itoa(idx), Iface: "eth0",
		Prefix4: netip.PrefixFrom(at(0), 30), Host4: at(1), Addr4: at(2),
	}
	if ipv6 {
		b := vethBase6.As16()
		b[6], b[7] = byte(idx>>8), byte(idx)
		l.Prefix6 = netip.PrefixFrom(netip.AddrFrom16(b), 64)
		b[15] = 1
		l.Host6 = netip.AddrFrom16(b)
		b[15] = 2
		l.Addr6 = netip.AddrFrom16(b)
	}
	return l
}

// configure gives the interface in namespace ns its addresses, brings it up and, when gw4/gw6
// are set, adds default routes. IPv6 needs two things to be usable at once, both measured:
// the addresses are added without duplicate address detection (IFA_F_NODAD), since an address
// is otherwise tentative until deferred kernel work runs, and meanwhile a connect picks ::1 as
// its source, which the peer drops (a third of first connects failed under CPU load); and
// detection is off on the interface (accept_dad), since it would hold the link-local address
// back for a second, during which the host cannot resolve neighbours to forward to (a first
// forwarded IPv6 connect took 2 s).
func configure(ns, iface string, a4 netip.Addr, p4 netip.Prefix, a6 netip.Addr, p6 netip.Prefix, gw4, gw6 netip.Addr) error {
	addrs := []*netlink.Addr{{IPNet: ipNet(a4, p4.Bits())}}
	if a6.IsValid() {
		if err := SetSysctl(ns, "net.ipv6.conf."+iface+".accept_dad", "0"); err != nil {
			return err
		}
		addrs = append(addrs, &netlink.Addr{IPNet: ipNet(a6, p6.Bits()), Flags: unix.IFA_F_NODAD})
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		link, err := h.LinkByName(iface)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if err := h.AddrAdd(link, a); err != nil {
				return fmt.Errorf("adding %s: %w", a.IPNet, err)
			}
		}
		if err := h.LinkSetUp(link); err != nil {
			return err
		}
		for _, gw := range []netip.Addr{gw4, gw6} {
			if !gw.IsValid() {
				continue
			}
			if err := h.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice())}); err != nil {
				return fmt.Errorf("default route via %s: %w", gw, err)
			}
		}
		return nil
	})
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(bits, a.BitLen())}
}

// withHandle runs fn with a netlink handle for the namespace ns ("" for the machine's).
func withHandle(ns string, fn func(*netlink.Handle) error) error {
	target := netns.None()
	if ns != "" {
		var err error
		if target, err = netns.GetFromName(ns); err != nil {
			return err
		}
		defer target.Close()
	}
	h, err := netlink.NewHandleAt(target, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(h)
}

// deleteLink deletes a veth by its host end (which takes the other end with it). A link or
// namespace that is already gone counts as deleted.
func deleteLink(ns, name string) error {
	if ns != "" {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		link, err := h.LinkByName(name)
		if errors.As(err, &netlink.LinkNotFoundError{}) {
			return nil
		}
		if err != nil {
			return err
		}
		return h.LinkDel(link)
	})
}

// enableForwarding turns on forwarding in the host namespace for the test. A test namespace
// is simply set (it dies with the test); the machine's settings are held and restored, since
// other tests may need them at the same time.
func enableForwarding(t testing.TB, hostNetns string, ipv6 bool) {
	t.Helper()
	keys := []string{"net.ipv4.ip_forward"}
	if ipv6 {
		keys = append(keys, "net.ipv6.conf.all.forwarding")
	}
	for _, key := range keys {
		if hostNetns != "" {
			if err := SetSysctl(hostNetns, key, "1"); err != nil {
				t.Fatalf("%s in %s: %v", key, hostNetns, err)
			}
			continue
		}
		hold, err := holdSysctl(key, "1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := releaseSysctl(key, hold); err != nil {
				t.Errorf("restoring %s: %v", key, err)
			}
		})
	}
}

var stateSeq atomic.Uint64

// ownerTag ends the name of every state file this process owns.
func ownerTag() string {
	return "@" + strconv.Itoa(os.Getpid())
}

// withStateLock runs fn holding the machine-wide lock on stateDir, serialising subnet
// reservations and sysctl holds across test processes.
func withStateLock(fn func() error) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close() // releases the lock
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking %s: %w", stateDir, err)
	}
	return fn()
}

// stateFiles lists the state files matching prefix, split into those whose owner is alive
// and those whose owner has exited.
func stateFiles(prefix string) (live, dead []string, err error) {
	m, err := filepath.Glob(filepath.Join(stateDir, prefix+"@*"))
	if err != nil {
		return nil, nil, err
	}
	for _, p := range m {
		_, owner, _ := strings.Cut(filepath.Base(p), "@")
		owner, _, _ = strings.Cut(owner, "-")
		if pid, err := strconv.Atoi(owner); err == nil && unix.Kill(pid, 0) == unix.ESRCH {
			dead = append(dead, p)
		} else {
			live = append(live, p) // includes pids owned by another user (EPERM)
		}
	}
	return live, dead, nil
}

// subnetFile is the name of this process's reservation of subnet idx.
func subnetFile(idx int) string {
	return "subnet-" + strconv.Itoa(idx) + ownerTag()
}

// reserveSubnet reserves a subnet index no live test process holds, searching from a point
// that differs between processes so that they rarely contend for the same index.
func reserveSubnet() (int, error) {
	return reserveSubnetFrom((os.Getpid()*7919 + int(stateSeq.Add(1))) % subnetCount)
}

// reserveSubnetFrom reserves the first free subnet index from start on. An index is free when
// no live process holds it and no host end named for it exists in the machine's namespace: a
// killed run may have left its namespace, and so its veth, behind.
func reserveSubnetFrom(start int) (int, error) {
	idx := -1
	err := withStateLock(func() error {
		for i := range subnetCount {
			cand := (start + i) % subnetCount
			live, dead, err := stateFiles("subnet-" + strconv.Itoa(cand))
			if err != nil {
				return err
			}
			if len(live) > 0 {
				continue
			}
			if _, err := netlink.LinkByName("slv" + strconv.Itoa(cand)); err == nil {
				continue
			}
			for _, p := range dead {
				if err := os.Remove(p); err != nil {
					return err
				}
			}
			idx = cand
			return os.WriteFile(filepath.Join(stateDir, subnetFile(cand)), nil, 0o600)
		}
		return fmt.Errorf("all %d veth subnets of %s/16 are reserved (see %s)", subnetCount, vethBase4, stateDir)
	})
	return idx, err
}

// releaseState removes one of this process's state files.
func releaseState(name string) error {
	return withStateLock(func() error { return os.Remove(filepath.Join(stateDir, name)) })
}

// holdSysctl sets the machine's sysctl key to value while at least one hold is live and
// returns this hold's file name. The first hold records the original value; releaseSysctl of
// the last live hold restores it. Holds of processes that died without releasing are dropped;
// their original value stays recorded until the next last release restores it.
func holdSysctl(key, value string) (string, error) {
	hold := "hold-" + key + ownerTag() + "-" + strconv.FormatUint(stateSeq.Add(1), 10)
	err := withStateLock(func() error {
		live, err := pruneHolds(key)
		if err != nil {
			return err
		}
		orig := filepath.Join(stateDir, "orig-"+key)
		if _, err := os.Stat(orig); len(live) == 0 && errors.Is(err, os.ErrNotExist) {
			cur, err := Sysctl("", key)
			if err != nil {
				return err
			}
			if err := os.WriteFile(orig, []byte(cur), 0o600); err != nil {
				return err
			}
		}
		if err := SetSysctl("", key, value); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(stateDir, hold), nil, 0o600)
	})
	return hold, err
}

// releaseSysctl drops a hold from holdSysctl, restoring the original value if it was the last.
func releaseSysctl(key, hold string) error {
	return withStateLock(func() error {
		if err := os.Remove(filepath.Join(stateDir, hold)); err != nil {
			return err
		}
		live, err := pruneHolds(key)
		if err != nil || len(live) > 0 {
			return err
		}
		orig := filepath.Join(stateDir, "orig-"+key)
		b, err := os.ReadFile(orig)
		if err != nil {
			return err
		}
		if err := SetSysctl("", key, string(b)); err != nil {
			return err
		}
		return os.Remove(orig)
	})
}

// pruneHolds removes the holds on key of processes that have exited and returns the live ones.
func pruneHolds(key string) ([]string, error) {
	live, dead, err := stateFiles("hold-" + key)
	for _, p := range dead {
		err = errors.Join(err, os.Remove(p))
	}
	return live, err
}

// NetnsLeftovers lists the network namespaces, veth subnet reservations and sysctl holds this
// process created and did not remove; the counterpart of FindLeftovers for what Netns and Veth
// create. A veth cannot outlive both its namespace and its reservation unnoticed: the
// reservation is released only after the veth is deleted.
func NetnsLeftovers() ([]string, error) {
	found, err := filepath.Glob(filepath.Join(netnsDir, NetnsPrefix+pidTag()+"*"))
	if err != nil {
		return nil, err
	}
	for _, pattern := range []string{"*" + ownerTag(), "*" + ownerTag() + "-*"} {
		m, err := filepath.Glob(filepath.Join(stateDir, pattern))
		if err != nil {
			return nil, err
		}
		found = append(found, m...)
	}
	return found, nil
}
