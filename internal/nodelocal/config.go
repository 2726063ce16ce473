package nodelocal

import (
	"fmt"
	"net/netip"
	"strings"
)

// DefaultName is the interface Ensure creates when Config.Name is empty.
const DefaultName = "sluice0"

// DefaultIPv4 is the node-local IPv4 address when Config.IPv4 is unset: link-local (see the
// package documentation for why), and clear of the addresses other node-local services use by
// convention (NodeLocal DNSCache's 169.254.20.10, cloud metadata at 169.254.169.254).
var DefaultIPv4 = netip.MustParseAddr("169.254.20.54")

// Config names the interface and its addresses.
type Config struct {
	// Name is the interface's name (at most 15 bytes, the kernel's limit); default DefaultName.
	Name string
	// IPv4 is the node-local IPv4 address; default DefaultIPv4. It is installed as a /32.
	IPv4 netip.Addr
	// IPv6, if set, is the node-local IPv6 address, installed as a /128: a ULA (fc00::/7) is
	// the natural choice, as IPv6 has no link-local range that another link could reach. Unset,
	// IPv6 connects from containers have nowhere to go and the redirect refuses them.
	IPv6 netip.Addr
}

// withDefaults fills in the defaults and rejects what cannot work as a node-local address.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if err := checkName(c.Name); err != nil {
		return c, err
	}
	if !c.IPv4.IsValid() {
		c.IPv4 = DefaultIPv4
	}
	if err := checkIPv4(c.IPv4); err != nil {
		return c, err
	}
	if c.IPv6.IsValid() {
		if err := checkIPv6(c.IPv6); err != nil {
			return c, err
		}
	}
	return c, nil
}

// checkName rejects names the kernel would refuse, with a message saying why.
func checkName(name string) error {
	if len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("nodelocal: invalid interface name %q (at most 15 bytes, no '/', ':' or whitespace)", name)
	}
	return nil
}

func checkIPv4(a netip.Addr) error {
	switch {
	case !a.Is4():
		return fmt.Errorf("nodelocal: IPv4 address %s is not a plain IPv4 address", a)
	case a.IsLoopback():
		return fmt.Errorf("nodelocal: IPv4 address %s is a loopback address: inside a container it is the container's own loopback, so it cannot reach the node; use a link-local address such as %s", a, DefaultIPv4)
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("nodelocal: IPv4 address %s is not a unicast address", a)
	}
	return nil
}

func checkIPv6(a netip.Addr) error {
	switch {
	case !a.Is6() || a.Is4In6():
		return fmt.Errorf("nodelocal: IPv6 address %s is not a plain IPv6 address", a)
	case a.Zone() != "":
		return fmt.Errorf("nodelocal: IPv6 address %s has a zone; use a ULA (fc00::/7)", a)
	case a.IsLoopback():
		return fmt.Errorf("nodelocal: IPv6 address %s is the loopback address, which inside a container is the container's own; use a ULA (fc00::/7)", a)
	case a.IsLinkLocalUnicast():
		return fmt.Errorf("nodelocal: IPv6 address %s is link-local, reachable only on the link it is on, not from containers on other links; use a ULA (fc00::/7)", a)
	case a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("nodelocal: IPv6 address %s is not a unicast address", a)
	}
	return nil
}
