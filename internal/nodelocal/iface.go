package nodelocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// kinds are the device types Ensure creates, in order of preference (ifb only where the
// kernel lacks dummy), and the only types it adopts or removes under the configured name.
var kinds = []string{"dummy", "ifb"}

// Iface is the node-local interface as Ensure left it: up, holding exactly the configured
// addresses. The agent passes IPv4 and IPv6 to redirect.Options (NodeLocal4/NodeLocal6) and
// opens its proxy listeners on them.
type Iface struct {
	// Name and Index identify the interface.
	Name  string
	Index int
	// Kind is the device type: "dummy", or "ifb" on kernels without the dummy driver.
	Kind string
	// IPv4 is the node-local IPv4 address; IPv6 the IPv6 one, unset if not configured.
	IPv4, IPv6 netip.Addr
	// Created says whether this call created the interface, rather than adopting one left by
	// an earlier run (the agent keeps it across restarts; see the package documentation).
	Created bool
}

// Ensure makes the node-local interface exist, be up and hold exactly cfg's addresses, so that
// calling it again (say, after an agent restart, or with a changed address) converges instead
// of failing. It creates the interface if missing, adopts an existing one of a kind it creates,
// and refuses an interface of another kind under that name, or an address some other interface
// already holds, since either means the configuration collides with something sluice does not
// own. It works in the calling thread's network namespace and needs CAP_NET_ADMIN.
func Ensure(cfg Config) (*Iface, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	link, created, err := findOrCreate(cfg.Name)
	if err != nil {
		return nil, err
	}
	ifc := &Iface{Name: cfg.Name, Index: link.Attrs().Index, Kind: link.Type(), IPv4: cfg.IPv4, IPv6: cfg.IPv6, Created: created}
	if err := configure(link, cfg); err != nil {
		if created {
			err = errors.Join(err, netlink.LinkDel(link))
		}
		return nil, err
	}
	return ifc, nil
}

// Remove deletes the node-local interface name ("" means DefaultName) and so its addresses.
// An interface that does not exist is not an error; one of a kind Ensure does not create is
// left alone and reported, since it is not sluice's.
func Remove(name string) error {
	if name == "" {
		name = DefaultName
	}
	if err := checkName(name); err != nil {
		return err
	}
	link, err := lookup(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("nodelocal: deleting %s: %w", name, err)
	}
	return nil
}

// lookup finds the interface name and checks that it is of a kind Ensure creates.
func lookup(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if link.Type() == k {
			return link, nil
		}
	}
	return nil, fmt.Errorf("nodelocal: interface %s exists and is a %s device, not one sluice creates (%v): refusing to take it over; remove it or configure another name", name, link.Type(), kinds)
}

// findOrCreate returns the interface name, creating it with the first kind the kernel
// supports when it does not exist.
func findOrCreate(name string) (link netlink.Link, created bool, err error) {
	link, err = lookup(name)
	if !errors.As(err, &netlink.LinkNotFoundError{}) {
		return link, false, err
	}
	for _, kind := range kinds {
		attrs := netlink.LinkAttrs{Name: name}
		var l netlink.Link = &netlink.Dummy{LinkAttrs: attrs}
		if kind == "ifb" {
			l = &netlink.Ifb{LinkAttrs: attrs}
		}
		err := netlink.LinkAdd(l)
		if errors.Is(err, unix.EOPNOTSUPP) {
			continue // no such driver in this kernel
		}
		if errors.Is(err, unix.EEXIST) { // created concurrently
			link, err = lookup(name)
			return link, false, err
		}
		if err != nil {
			return nil, false, fmt.Errorf("nodelocal: creating %s device %s: %w", kind, name, err)
		}
		link, err = lookup(name)
		return link, true, err
	}
	return nil, false, fmt.Errorf("nodelocal: the kernel supports none of the device types %v (CONFIG_DUMMY, CONFIG_IFB), so %s cannot be created", kinds, name)
}

// configure makes link hold exactly cfg's addresses and brings it up.
func configure(link netlink.Link, cfg Config) error {
	want := []netip.Prefix{netip.PrefixFrom(cfg.IPv4, 32)}
	if cfg.IPv6.IsValid() {
		want = append(want, netip.PrefixFrom(cfg.IPv6, 128))
	}
	if err := checkUnused(link, want); err != nil {
		return err
	}
	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("nodelocal: listing addresses of %s: %w", cfg.Name, err)
	}
	missing := map[netip.Prefix]bool{}
	for _, p := range want {
		missing[p] = true
	}
	for _, a := range have {
		p := prefixOf(a)
		if missing[p] {
			delete(missing, p)
			continue
		}
		if p.Addr().IsLinkLocalUnicast() && p.Addr().Is6() {
			continue // the kernel's own fe80:: address
		}
		// Left by an earlier configuration: a stale address must not keep attracting traffic,
		// and a wider prefix would route a whole range into the device.
		if err := netlink.AddrDel(link, &a); err != nil {
			return fmt.Errorf("nodelocal: removing stale address %s from %s: %w", p, cfg.Name, err)
		}
	}
	for _, p := range want {
		if !missing[p] {
			continue
		}
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is4() {
			a.Scope = unix.RT_SCOPE_LINK // never chosen as the source of the node's own traffic
		} else {
			a.Flags = unix.IFA_F_NODAD // usable at once; nothing else can hold it on this device
		}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("nodelocal: adding %s to %s: %w", p, cfg.Name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("nodelocal: bringing %s up: %w", cfg.Name, err)
	}
	return nil
}

// checkUnused fails if an interface other than link holds one of the addresses.
func checkUnused(link netlink.Link, want []netip.Prefix) error {
	all, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("nodelocal: listing addresses: %w", err)
	}
	for _, a := range all {
		if a.LinkIndex == link.Attrs().Index {
			continue
		}
		for _, p := range want {
			if prefixOf(a).Addr() == p.Addr() {
				other := fmt.Sprintf("index %d", a.LinkIndex)
				if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
					other = l.Attrs().Name
				}
				return fmt.Errorf("nodelocal: %s is already assigned to interface %s; choose another node-local address", p.Addr(), other)
			}
		}
	}
	return nil
}

// prefixOf converts a netlink address to a netip.Prefix.
func prefixOf(a netlink.Addr) netip.Prefix {
	ip, _ := netip.AddrFromSlice(a.IP)
	bits, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), bits)
}
