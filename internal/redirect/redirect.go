// Package redirect loads, pins and attaches sluice's cgroup eBPF programs, keeps the
// per-cgroup enforcement map, and answers the proxy's question "where was this accepted
// connection really going, and who opened it?".
//
// State lives in a bpffs directory: the maps and the bpf_links are pinned, so enforcement
// continues while the agent is down (redirected connects then fail closed) and a restarted
// agent picks up where it left off, replacing the programs atomically.
package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// DefaultPorts are the destination ports redirected when Options.Ports is empty.
var DefaultPorts = []uint16{5432}

// DefaultListenerMark is the SO_MARK the agent's listeners carry by default. The programs
// only redirect to a listener with this mark, so a process that binds the proxy port first
// receives nothing. It is chosen clear of the bits Cilium, kube-proxy and Istio use.
const DefaultListenerMark uint32 = 0x51ce0000

// Options says where to attach and how to recognise connections worth redirecting.
type Options struct {
	// CgroupRoot is the cgroup the programs are attached to (absolute path); every cgroup
	// below it is covered from birth. Empty means the cgroup2 mount itself (production).
	CgroupRoot string
	// PinDir is a directory on a bpffs where maps and links are pinned (created if needed).
	PinDir string
	// ProxyPort is the port the agent's listeners use on 127.0.0.1, ::1 and the
	// node-local addresses.
	ProxyPort uint16
	// Ports are the destination ports to redirect; empty means DefaultPorts.
	Ports []uint16
	// CIDRs optionally restrict redirection to these destinations, per family: with no
	// IPv4 prefix every IPv4 destination on Ports matches, likewise for IPv6.
	CIDRs []netip.Prefix
	// NodeLocal4 and NodeLocal6 are the node-local proxy addresses connects from other
	// network namespaces are sent to. Unset: such connects are refused.
	NodeLocal4, NodeLocal6 netip.Addr
	// ListenerMark is the SO_MARK of the agent's listeners; 0 means DefaultListenerMark.
	ListenerMark uint32
}

func (o Options) withDefaults() (Options, error) {
	if o.PinDir == "" {
		return o, errors.New("redirect: PinDir is required")
	}
	if o.ProxyPort == 0 {
		return o, errors.New("redirect: ProxyPort is required")
	}
	if len(o.Ports) == 0 {
		o.Ports = DefaultPorts
	}
	for _, p := range o.Ports {
		if p == 0 || p == o.ProxyPort {
			return o, fmt.Errorf("redirect: port %d cannot be redirected (zero or the proxy's own port)", p)
		}
	}
	if o.ListenerMark == 0 {
		o.ListenerMark = DefaultListenerMark
	}
	if o.NodeLocal4.IsValid() && !o.NodeLocal4.Is4() {
		return o, fmt.Errorf("redirect: NodeLocal4 %s is not an IPv4 address", o.NodeLocal4)
	}
	if o.NodeLocal6.IsValid() && (!o.NodeLocal6.Is6() || o.NodeLocal6.Is4In6()) {
		return o, fmt.Errorf("redirect: NodeLocal6 %s is not an IPv6 address", o.NodeLocal6)
	}
	mount, err := cgroup.Mount()
	if err != nil {
		return o, err
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = mount
	}
	if o.CgroupRoot, err = cgroup.Resolve(o.CgroupRoot); err != nil {
		return o, fmt.Errorf("redirect: cgroup root: %w", err)
	}
	return o, nil
}

// Redirect is the loaded and attached set of programs and their maps.
type Redirect struct {
	opts   Options
	rootID uint64
	objs   bpfObjects
	links  []link.Link

	mu      sync.Mutex           // serialises mode changes with their validation and links
	tracked map[uint64]link.Link // cgroup id -> its sockops link (track.go)
	closed  bool                 // set by Close; pending detaches then leave the pins
	gen     atomic.Uint64        // counts mode changes (Generation)
}

// Open loads the programs (reusing pinned maps, so live origins and modes survive), writes
// the configuration into the maps, and attaches the programs, replacing the pinned links'
// programs atomically when they already exist. It fails naming the missing kernel feature,
// mount or capability when the machine cannot run sluice.
func Open(opts Options) (*Redirect, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := prepare(opts.PinDir); err != nil {
		return nil, err
	}
	r := &Redirect{opts: opts, tracked: map[uint64]link.Link{}}
	if r.rootID, err = cgroup.ID(opts.CgroupRoot); err != nil {
		return nil, err
	}
	spec, err := loadBpf()
	if err != nil {
		return nil, fmt.Errorf("redirect: parse embedded programs: %w", err)
	}
	err = spec.LoadAndAssign(&r.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: opts.PinDir}})
	if err != nil {
		return nil, explainLoad(err)
	}
	if err := r.configure(); err != nil {
		r.objs.Close()
		return nil, err
	}
	if err := r.reconcile(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.attach(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close releases this process's handles. The pinned links and maps stay, so enforced
// cgroups stay redirected (and fail closed while no agent listens).
func (r *Redirect) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	r.links = nil
	for id, l := range r.tracked {
		errs = append(errs, l.Close())
		delete(r.tracked, id)
	}
	errs = append(errs, r.objs.Close())
	return errors.Join(errs...)
}

// Uninstall detaches the programs and removes every pin: enforcement ends for all cgroups.
func (r *Redirect) Uninstall() error {
	return errors.Join(r.Close(), Uninstall(r.opts.PinDir))
}

// Uninstall removes the links and maps pinned in pinDir and the directory itself, without
// needing the programs loaded (for `sluice agent --uninstall` after a crash). Removing the
// last reference to a bpf_link detaches it.
func Uninstall(pinDir string) error {
	entries, err := os.ReadDir(pinDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redirect: uninstall: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if err := os.Remove(pinDir + "/" + e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("redirect: uninstall: %w", err))
		}
	}
	if err := os.Remove(pinDir); err != nil {
		errs = append(errs, fmt.Errorf("redirect: uninstall: %w", err))
	}
	return errors.Join(errs...)
}
