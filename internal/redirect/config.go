package redirect

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Flags of sluice_config.flags, mirrored from bpf/types.h.
const (
	cfgCIDR4 = 1 << 0
	cfgCIDR6 = 1 << 1
)

// configure writes ports, CIDRs and the config record. It runs before the programs are
// (re)attached, and on a reused pin set it replaces what a previous agent wrote.
func (r *Redirect) configure() error {
	cfg := bpfSluiceConfig{
		ListenerMark: r.opts.ListenerMark,
		ProxyPort:    r.opts.ProxyPort,
	}
	if r.opts.NodeLocal4.IsValid() {
		cfg.Nodelocal4 = addr4Word(r.opts.NodeLocal4)
	}
	if r.opts.NodeLocal6.IsValid() {
		cfg.Nodelocal6 = addrWords(r.opts.NodeLocal6)
	}
	var err error
	if cfg.Flags, err = r.writeCIDRs(); err != nil {
		return err
	}
	if err := r.writePorts(); err != nil {
		return err
	}
	if err := r.objs.Config.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("redirect: write config: %w", err)
	}
	return nil
}

// writePorts enables the configured ports first and only then disables the others, so a
// port kept across a reload is never briefly unredirected.
func (r *Redirect) writePorts() error {
	want := make(map[uint32]bool, len(r.opts.Ports))
	for _, p := range r.opts.Ports {
		want[uint32(p)] = true
		if err := r.objs.Ports.Put(uint32(p), uint32(1)); err != nil {
			return fmt.Errorf("redirect: enable port %d: %w", p, err)
		}
	}
	var (
		port uint32
		on   uint32
	)
	it := r.objs.Ports.Iterate()
	var stale []uint32
	for it.Next(&port, &on) {
		if on != 0 && !want[port] {
			stale = append(stale, port)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("redirect: read ports: %w", err)
	}
	for _, p := range stale {
		if err := r.objs.Ports.Put(p, uint32(0)); err != nil {
			return fmt.Errorf("redirect: disable port %d: %w", p, err)
		}
	}
	return nil
}

// writeCIDRs replaces both prefix tries and returns the config flags enabling them.
func (r *Redirect) writeCIDRs() (uint16, error) {
	var flags uint16
	want4 := map[bpfSluiceCidr4Key]bool{}
	want6 := map[bpfSluiceCidr6Key]bool{}
	for _, p := range r.opts.CIDRs {
		p = p.Masked()
		if p.Addr().Is4() {
			k := bpfSluiceCidr4Key{Prefixlen: uint32(p.Bits()), Addr: addr4Word(p.Addr())}
			want4[k] = true
			flags |= cfgCIDR4
			if err := r.objs.Cidr4.Put(&k, uint32(1)); err != nil {
				return 0, fmt.Errorf("redirect: add CIDR %s: %w", p, err)
			}
			continue
		}
		k := bpfSluiceCidr6Key{Prefixlen: uint32(p.Bits()), Addr: addrWords(p.Addr())}
		want6[k] = true
		flags |= cfgCIDR6
		if err := r.objs.Cidr6.Put(&k, uint32(1)); err != nil {
			return 0, fmt.Errorf("redirect: add CIDR %s: %w", p, err)
		}
	}
	if err := pruneKeys(r.objs.Cidr4, want4); err != nil {
		return 0, err
	}
	if err := pruneKeys(r.objs.Cidr6, want6); err != nil {
		return 0, err
	}
	return flags, nil
}

func pruneKeys[K comparable](m *ebpf.Map, keep map[K]bool) error {
	var (
		k     K
		v     uint32
		stale []K
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		if !keep[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("redirect: read CIDRs: %w", err)
	}
	for _, k := range stale {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("redirect: remove CIDR: %w", err)
		}
	}
	return nil
}

// Reconfigure applies new ports, CIDRs, node-local addresses and listener mark to the
// running programs (a config reload). Where programs attach and are pinned, and the proxy
// port, change only by reopening.
func (r *Redirect) Reconfigure(opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if opts.CgroupRoot != r.opts.CgroupRoot || opts.PinDir != r.opts.PinDir || opts.ProxyPort != r.opts.ProxyPort {
		return errors.New("redirect: cgroup root, pin directory and proxy port change only by reopening")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = opts
	return r.configure()
}
