package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
)

// router selects the target for an original destination. Configurations hold a handful of
// targets, so a scan of the routes in order of specificity is both simple and fast.
type router struct {
	routes []route // most specific first
}

type route struct {
	dest   Destination
	target *Target
}

// newRouter orders the destinations of targets by specificity. Two targets claiming the
// same destination are a configuration error: which one wins would be an accident.
func newRouter(targets []Target) (*router, error) {
	r := &router{}
	seen := make(map[Destination]string)
	for i := range targets {
		t := &targets[i]
		for _, d := range t.Destinations {
			d.Prefix = unmapPrefix(d.Prefix)
			if other, dup := seen[d]; dup {
				return nil, fmt.Errorf("proxy: destination %s port %d is claimed by targets %q and %q", d.Prefix, d.Port, other, t.Name)
			}
			seen[d] = t.Name
			r.routes = append(r.routes, route{dest: d, target: t})
		}
	}
	slices.SortStableFunc(r.routes, func(a, b route) int {
		if c := cmp.Compare(b.dest.Prefix.Bits(), a.dest.Prefix.Bits()); c != 0 {
			return c
		}
		return cmp.Compare(b.dest.Port, a.dest.Port) // a specific port before port 0
	})
	return r, nil
}

// unmapPrefix writes a v4-mapped IPv6 prefix (::ffff:10.0.0.0/104) as the IPv4 prefix it
// means, because origins report IPv4 destinations unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// match returns the target for dst, or nil when no target claims it.
func (r *router) match(dst netip.AddrPort) *Target {
	addr := dst.Addr().Unmap()
	for _, rt := range r.routes {
		if rt.dest.Prefix.Contains(addr) && (rt.dest.Port == 0 || rt.dest.Port == dst.Port()) {
			return rt.target
		}
	}
	return nil
}
