package nodelocal_test

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/nodelocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

var ula = netip.MustParseAddr("fd51:1ce0:54::54")

// in runs fn in the network namespace ns, failing the test on error. Every test here works in
// namespaces it creates, never in the machine's.
func in(t *testing.T, ns string, fn func() error) {
	t.Helper()
	if err := testenv.InNetns(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// ensure runs Ensure in ns.
func ensure(t *testing.T, ns string, cfg nodelocal.Config) (*nodelocal.Iface, error) {
	t.Helper()
	var ifc *nodelocal.Iface
	err := testenv.InNetns(ns, func() (err error) {
		ifc, err = nodelocal.Ensure(cfg)
		return err
	})
	return ifc, err
}

// state reads the interface's kind, flags and addresses (without the kernel's fe80::) in ns.
func state(t *testing.T, ns, name string) (kind string, up bool, addrs []netlink.Addr) {
	t.Helper()
	in(t, ns, func() error {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		kind, up = link.Type(), link.Attrs().Flags&net.FlagUp != 0
		all, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		for _, a := range all {
			if !a.IP.IsLinkLocalUnicast() || a.IP.To4() != nil {
				addrs = append(addrs, a)
			}
		}
		return err
	})
	return kind, up, addrs
}

// expectAddrs checks that the interface holds exactly want, IPv4 with scope link and IPv6
// usable (not tentative).
func expectAddrs(t *testing.T, addrs []netlink.Addr, want ...string) {
	t.Helper()
	var got []string
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
		if a.IP.To4() != nil && a.Scope != unix.RT_SCOPE_LINK {
			t.Errorf("%s has scope %d, want link (%d)", a.IPNet, a.Scope, unix.RT_SCOPE_LINK)
		}
		if a.Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("%s is tentative", a.IPNet)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("addresses %v, want exactly %v", got, want)
	}
}

// expectedKind is "dummy" where the kernel has the dummy driver, else "ifb".
func expectedKind(t *testing.T) string {
	t.Helper()
	kind := "dummy"
	in(t, testenv.Netns(t, "probe"), func() error {
		err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}})
		if errors.Is(err, unix.EOPNOTSUPP) {
			kind, err = "ifb", nil
		}
		return err
	})
	return kind
}

func TestEnsureConvergesAndRemove(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "node")
	ifc, err := ensure(t, ns, nodelocal.Config{IPv6: ula})
	if err != nil {
		t.Fatal(err)
	}
	want := nodelocal.Iface{Name: "sluice0", Index: ifc.Index, Kind: expectedKind(t), IPv4: nodelocal.DefaultIPv4, IPv6: ula, Created: true}
	if *ifc != want {
		t.Errorf("Ensure = %+v, want %+v", *ifc, want)
	}
	kind, up, addrs := state(t, ns, "sluice0")
	if kind != want.Kind || !up {
		t.Errorf("interface is a %s, up %v; want an up %s", kind, up, want.Kind)
	}
	expectAddrs(t, addrs, "169.254.20.54/32", ula.String()+"/128")

	again, err := ensure(t, ns, nodelocal.Config{Name: "sluice0", IPv4: nodelocal.DefaultIPv4, IPv6: ula})
	if err != nil {
		t.Fatal(err)
	}
	if want.Created = false; *again != want {
		t.Errorf("second Ensure = %+v, want %+v", *again, want)
	}
	_, _, addrs = state(t, ns, "sluice0")
	expectAddrs(t, addrs, "169.254.20.54/32", ula.String()+"/128")

	moved, err := ensure(t, ns, nodelocal.Config{IPv4: netip.MustParseAddr("169.254.20.55")})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Index != ifc.Index || moved.Created || moved.IPv6.IsValid() {
		t.Errorf("Ensure with a new address = %+v; want the same interface, without IPv6", *moved)
	}
	_, _, addrs = state(t, ns, "sluice0")
	expectAddrs(t, addrs, "169.254.20.55/32")

	in(t, ns, func() error {
		if err := nodelocal.Remove(""); err != nil {
			return err
		}
		if _, err := netlink.LinkByName("sluice0"); !errors.As(err, &netlink.LinkNotFoundError{}) {
			t.Errorf("sluice0 after Remove: %v", err)
		}
		return nodelocal.Remove("sluice0") // gone already: not an error
	})
}

// TestEnsureRepairsLeftover adopts an interface an earlier run (or an operator) left down and
// with a wide prefix, which would route the whole link-local range, cloud metadata included,
// into the device.
func TestEnsureRepairsLeftover(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "node")
	kind := expectedKind(t)
	in(t, ns, func() error {
		attrs := netlink.LinkAttrs{Name: "sluice0"}
		var l netlink.Link = &netlink.Dummy{LinkAttrs: attrs}
		if kind == "ifb" {
			l = &netlink.Ifb{LinkAttrs: attrs}
		}
		if err := netlink.LinkAdd(l); err != nil {
			return err
		}
		return netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(169, 254, 20, 54), Mask: net.CIDRMask(16, 32)}})
	})
	ifc, err := ensure(t, ns, nodelocal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if ifc.Created {
		t.Error("Ensure created an interface that existed")
	}
	_, up, addrs := state(t, ns, "sluice0")
	if !up {
		t.Error("adopted interface is down")
	}
	expectAddrs(t, addrs, "169.254.20.54/32")
	in(t, ns, func() error {
		routes, err := netlink.RouteGet(net.IPv4(169, 254, 169, 254))
		if err == nil && len(routes) > 0 && routes[0].LinkIndex == ifc.Index {
			t.Errorf("169.254.169.254 is still routed into %s: %+v", ifc.Name, routes[0])
		}
		return nil
	})
}

// TestEnsureRefusesCollisions checks that Ensure takes over neither an interface of another
// kind nor an address another interface holds, and leaves nothing behind when it refuses.
func TestEnsureRefusesCollisions(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "node")
	in(t, ns, func() error { return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "sluice0"}}) })
	if _, err := ensure(t, ns, nodelocal.Config{}); err == nil || !strings.Contains(err.Error(), "is a bridge device") {
		t.Errorf("Ensure over a bridge named sluice0: %v; want a refusal naming the bridge", err)
	}
	in(t, ns, func() error {
		if err := nodelocal.Remove("sluice0"); err == nil || !strings.Contains(err.Error(), "bridge") {
			t.Errorf("Remove of a bridge: %v; want a refusal", err)
		}
		_, err := netlink.LinkByName("sluice0")
		return err // the bridge must still be there
	})

	in(t, ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(169, 254, 20, 60), Mask: net.CIDRMask(32, 32)}})
	})
	_, err := ensure(t, ns, nodelocal.Config{Name: "sluice1", IPv4: netip.MustParseAddr("169.254.20.60")})
	if err == nil || !strings.Contains(err.Error(), "already assigned to interface lo") {
		t.Errorf("Ensure with an address lo holds: %v; want a refusal naming lo", err)
	}
	in(t, ns, func() error {
		if _, err := netlink.LinkByName("sluice1"); !errors.As(err, &netlink.LinkNotFoundError{}) {
			t.Errorf("the refused Ensure left sluice1 behind (%v)", err)
		}
		return nil
	})
}

func TestConfigRejected(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.Netns(t, "node") // should validation fail to stop it, nothing reaches the machine
	for _, c := range []struct {
		cfg  nodelocal.Config
		want string
	}{
		{nodelocal.Config{Name: "a-name-longer-than-15"}, "invalid interface name"},
		{nodelocal.Config{Name: "a/b"}, "invalid interface name"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("127.0.0.53")}, "container's own loopback"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("::ffff:169.254.20.54")}, "not a plain IPv4"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("fd00::1")}, "not a plain IPv4"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("0.0.0.0")}, "not a unicast"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("224.0.0.1")}, "not a unicast"},
		{nodelocal.Config{IPv4: netip.MustParseAddr("255.255.255.255")}, "not a unicast"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("169.254.20.54")}, "not a plain IPv6"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("::ffff:169.254.20.54")}, "not a plain IPv6"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("::1")}, "loopback"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("fe80::54")}, "link-local"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("fd51::54%eth0")}, "has a zone"},
		{nodelocal.Config{IPv6: netip.MustParseAddr("ff02::1")}, "not a unicast"},
	} {
		if _, err := ensure(t, ns, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Ensure(%+v) = %v; want an error containing %q", c.cfg, err, c.want)
		}
	}
	in(t, ns, func() error {
		links, err := netlink.LinkList()
		if len(links) != 1 {
			t.Errorf("rejected configurations created interfaces: %d links", len(links))
		}
		return err
	})
}

// listen opens a listener on addr in ns and returns it with a channel of its peers.
func listen(t *testing.T, ns string, addr netip.AddrPort) (net.Listener, <-chan netip.AddrPort) {
	t.Helper()
	var l net.Listener
	in(t, ns, func() (err error) {
		l, err = net.Listen("tcp", addr.String())
		return err
	})
	peers := make(chan netip.AddrPort, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort()
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l, peers
}

// dial connects from ns to addr and returns the connection's source address.
func dial(ns string, addr net.Addr) (netip.AddrPort, error) {
	var local netip.AddrPort
	err := testenv.InNetns(ns, func() error {
		c, err := net.DialTimeout("tcp", addr.String(), 3*time.Second)
		if err != nil {
			return err
		}
		local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		return c.Close()
	})
	return local, err
}

// TestReachableFromContainer is the evidence for the package documentation's claims: a
// container whose default route leads to the node reaches both node-local addresses, and the
// node sees the container's own source address (which the origin lookup keys on), both on a
// node set as strictly as Linux allows (strict reverse-path filtering, route_localnet and
// forwarding off) and on a node that routes (forwarding on, loose filtering, as on most
// Kubernetes nodes). A new namespace starts with a copy of the machine's settings, so each
// variant sets every value it names.
func TestReachableFromContainer(t *testing.T) {
	testenv.RequireRoot(t)
	for _, v := range []struct {
		name                           string
		rpFilter, localnet, forwarding string
	}{
		{"strict", "1", "0", "0"},
		{"router", "2", "0", "1"},
	} {
		t.Run(v.name, func(t *testing.T) {
			node, ctr := testenv.Netns(t, "node"), testenv.Netns(t, "ctr")
			link := testenv.Veth(t, node, ctr, testenv.VethOptions{IPv6: true})
			ifc, err := ensure(t, node, nodelocal.Config{IPv6: ula})
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{
				"net.ipv4.ip_forward":          v.forwarding,
				"net.ipv6.conf.all.forwarding": v.forwarding,
			}
			for _, conf := range []string{"all", "default", link.HostIface, ifc.Name} {
				settings["net.ipv4.conf."+conf+".rp_filter"] = v.rpFilter
				settings["net.ipv4.conf."+conf+".route_localnet"] = v.localnet
			}
			for key, value := range settings {
				if err := testenv.SetSysctl(node, key, value); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct{ local, src netip.Addr }{{ifc.IPv4, link.Addr4}, {ifc.IPv6, link.Addr6}} {
				l, peers := listen(t, node, netip.AddrPortFrom(c.local, 0))
				local, err := dial(ctr, l.Addr())
				if err != nil {
					t.Fatalf("container -> %s: %v", l.Addr(), err)
				}
				if peer := <-peers; peer != local || peer.Addr() != c.src {
					t.Errorf("%s saw %s; the container used %s, want its address %s", l.Addr(), peer, local, c.src)
				}
			}
		})
	}
}

// TestLoopbackStaysInContainer is the evidence for refusing loopback node-local addresses: a
// connect to a loopback address from a container reaches the container's own loopback, never
// the node, whatever the node listens on.
func TestLoopbackStaysInContainer(t *testing.T) {
	testenv.RequireRoot(t)
	node, ctr := testenv.Netns(t, "node"), testenv.Netns(t, "ctr")
	testenv.Veth(t, node, ctr, testenv.VethOptions{})
	l, _ := listen(t, node, netip.MustParseAddrPort("127.0.0.53:0"))
	if _, err := dial(ctr, l.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("container -> %s: %v; want connection refused by the container's own loopback", l.Addr(), err)
	}
}

// TestNotASourceAddress checks the reason for scope link: the node never picks the node-local
// address as the source of its own traffic, even through an interface with no IPv4 address of
// its own (with scope global it does).
func TestNotASourceAddress(t *testing.T) {
	testenv.RequireRoot(t)
	node := testenv.Netns(t, "node")
	ifc, err := ensure(t, node, nodelocal.Config{})
	if err != nil {
		t.Fatal(err)
	}
	in(t, node, func() error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "unnumbered"}, PeerName: "peer"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		for _, name := range []string{"unnumbered", "peer"} {
			l, err := netlink.LinkByName(name)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		dst := &net.IPNet{IP: net.IPv4(10, 77, 0, 0), Mask: net.CIDRMask(24, 32)}
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: veth.Attrs().Index, Dst: dst}); err != nil {
			return err
		}
		routes, err := netlink.RouteGet(net.IPv4(10, 77, 0, 1))
		if err != nil {
			return err
		}
		if src, _ := netip.AddrFromSlice(routes[0].Src); src.Unmap() == ifc.IPv4 {
			t.Errorf("the node picks %s as the source towards 10.77.0.1", ifc.IPv4)
		}
		return nil
	})
}
