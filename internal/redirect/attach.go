package redirect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// hook pairs a program with its attach point at the root. The order is the attach order:
// the cleanup and bookkeeping hooks go first, connect4/6 last, so no connect is ever
// redirected before its origin can be cleaned up. (sockops is attached per cgroup, before
// these, by reconcile.)
type hook struct {
	name   string
	attach ebpf.AttachType
	prog   *ebpf.Program
}

func (r *Redirect) hooks() []hook {
	p := &r.objs.bpfPrograms
	return []hook{
		{"sock_release", ebpf.AttachCgroupInetSockRelease, p.SluiceSockRelease},
		{"getpeername4", ebpf.AttachCgroupInet4GetPeername, p.SluiceGetpeername4},
		{"getpeername6", ebpf.AttachCgroupInet6GetPeername, p.SluiceGetpeername6},
		{"connect4", ebpf.AttachCGroupInet4Connect, p.SluiceConnect4},
		{"connect6", ebpf.AttachCGroupInet6Connect, p.SluiceConnect6},
	}
}

// attach reuses each pinned link (swapping in the new program atomically, so there is no
// instant without enforcement during a restart or upgrade) or creates and pins a new one.
func (r *Redirect) attach() error {
	for _, h := range r.hooks() {
		l, err := r.attachOne(h)
		if err != nil {
			return fmt.Errorf("redirect: attach %s: %w", h.name, err)
		}
		r.links = append(r.links, l)
	}
	// Versions before per-cgroup sockops attached it at the root; reconcile has attached
	// it where it is needed, so the root link can go.
	if err := os.Remove(filepath.Join(r.opts.PinDir, "link_sockops")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("redirect: detach the root sockops link of an earlier version: %w", err)
	}
	return nil
}

func (r *Redirect) attachOne(h hook) (link.Link, error) {
	pin := filepath.Join(r.opts.PinDir, "link_"+h.name)
	old, err := link.LoadPinnedLink(pin, nil)
	switch {
	case err == nil:
		if r.sameRoot(old) {
			if err := old.Update(h.prog); err != nil {
				old.Close()
				return nil, fmt.Errorf("update pinned link: %w", err)
			}
			return old, nil
		}
		// The configured root changed: attach at the new root before letting go of the
		// old one (closing its last reference detaches it), then take over the pin.
		defer old.Close()
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("load pinned link %s: %w", pin, err)
	}

	cg, err := os.Open(r.opts.CgroupRoot)
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	l, err := link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: h.prog, Attach: h.attach})
	if err != nil {
		return nil, explainAttach(h.name, err)
	}
	if old != nil {
		if err := old.Unpin(); err != nil {
			l.Close()
			return nil, fmt.Errorf("unpin link of the previous root: %w", err)
		}
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin link: %w", err)
	}
	return l, nil
}

func (r *Redirect) sameRoot(l link.Link) bool {
	info, err := l.Info()
	if err != nil {
		return false
	}
	cg := info.Cgroup()
	return cg != nil && cg.CgroupId == r.rootID
}
