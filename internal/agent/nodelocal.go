package agent

import (
	"net/netip"

	"github.com/sluicehq/sluice/internal/nodelocal"
)

// nodeLocal is the configured node-local address, or nil when disabled.
func nodeLocalConfig(cfg *Config) *nodelocal.Config {
	nl := cfg.Redirect.NodeLocal
	if nl.Enabled != nil && !*nl.Enabled {
		return nil
	}
	c := &nodelocal.Config{Name: nl.Interface}
	if nl.IPv4 != "" {
		c.IPv4 = netip.MustParseAddr(nl.IPv4) // validated with the config
	}
	if nl.IPv6 != "" {
		c.IPv6 = netip.MustParseAddr(nl.IPv6)
	}
	return c
}
