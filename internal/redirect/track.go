package redirect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
)

// The sockops program publishes origins under connection tuples. The kernel runs a sockops
// program on about nine events of every TCP connection in the cgroups below its attach
// point, so attaching it at the root would charge every connection on the machine for the
// few that are redirected. It is attached instead at each cgroup whose explicit mode
// redirects (enforce or audit), which covers their descendants; the connect hooks stay at
// the root, where they cost one port test for everyone else.
const trackPrefix = "link_sockops_"

// trackGrace is how long a cgroup that stopped redirecting keeps its sockops link: a
// connect() that was redirected just before the switch still publishes its tuple.
const trackGrace = time.Second

// redirects says whether an explicit mode sends connects to the proxy.
func redirects(m origin.Mode) bool {
	return m == origin.ModeEnforce || m == origin.ModeAudit
}

func (r *Redirect) trackPin(id uint64) string {
	return filepath.Join(r.opts.PinDir, trackPrefix+strconv.FormatUint(id, 10))
}

// track makes sure the cgroup runs sockops, through a pinned link of its own. A link pinned
// by an earlier agent is kept and gets the current program.
func (r *Redirect) track(abs string, id uint64) error {
	if _, ok := r.tracked[id]; ok {
		return nil
	}
	pin := r.trackPin(id)
	l, err := link.LoadPinnedLink(pin, nil)
	switch {
	case err == nil:
		if err := l.Update(r.objs.SluiceSockops); err != nil {
			l.Close()
			return fmt.Errorf("redirect: update sockops link of %s: %w", cgroup.Name(abs), err)
		}
	case errors.Is(err, os.ErrNotExist):
		cg, err := os.Open(abs)
		if err != nil {
			return fmt.Errorf("redirect: %w", err)
		}
		defer cg.Close()
		l, err = link.AttachRawLink(link.RawLinkOptions{Target: int(cg.Fd()), Program: r.objs.SluiceSockops, Attach: ebpf.AttachCGroupSockOps})
		if err != nil {
			return explainAttach("sockops", err)
		}
		if err := l.Pin(pin); err != nil {
			l.Close()
			return fmt.Errorf("redirect: pin sockops link of %s: %w", cgroup.Name(abs), err)
		}
	default:
		return fmt.Errorf("redirect: load pinned link %s: %w", pin, err)
	}
	r.tracked[id] = l
	return nil
}

// untrack detaches the cgroup's sockops link (dropping the pin, the last reference).
func (r *Redirect) untrack(id uint64) error {
	l, ok := r.tracked[id]
	if !ok {
		return nil
	}
	delete(r.tracked, id)
	// Closed first, so the pin is the last reference and the link is detached when the
	// pin is gone, which is what an operator listing the pin directory sees.
	err := l.Close()
	return errors.Join(err, l.Unpin())
}

// untrackLater detaches the cgroup's link after trackGrace, unless it redirects again by
// then or the Redirect has been closed (the next Open reconciles instead).
func (r *Redirect) untrackLater(id uint64) {
	time.AfterFunc(trackGrace, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return
		}
		var m uint32
		if err := r.objs.Modes.Lookup(id, &m); err == nil && redirects(origin.Mode(m)) {
			return
		}
		_ = r.untrack(id) // the next reconcile retries a pin it could not remove
	})
}

// sweep drops the links of cgroups that have been removed: the kernel detached them then,
// and only their pins remain. It keeps a long-running agent's pin directory from growing
// with every short-lived enforced cgroup.
func (r *Redirect) sweep() {
	for id := range r.tracked {
		if _, err := cgroup.PathOf(id); errors.Is(err, os.ErrNotExist) {
			_ = r.untrack(id)
		}
	}
}

// reconcile makes the sockops links match the modes map: one per existing cgroup with a
// redirecting explicit mode, none elsewhere. Open runs it before the connect hooks are
// (re)attached, so no cgroup redirects without publishing its tuples.
func (r *Redirect) reconcile() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[uint64]string{}
	var (
		id   uint64
		mode uint32
	)
	it := r.objs.Modes.Iterate()
	for it.Next(&id, &mode) {
		if !redirects(origin.Mode(mode)) {
			continue
		}
		if path, err := cgroup.PathOf(id); err == nil {
			want[id] = path
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("redirect: read modes: %w", err)
	}
	for id, path := range want {
		if err := r.track(path, id); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(r.opts.PinDir)
	if err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	var errs []error
	for _, e := range entries {
		s, ok := strings.CutPrefix(e.Name(), trackPrefix)
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(s, 10, 64)
		if _, wanted := want[id]; err == nil && wanted {
			continue
		}
		// A cgroup that no longer redirects, or no longer exists (the kernel detached its
		// link when it was removed): the pin is all that is left.
		errs = append(errs, os.Remove(filepath.Join(r.opts.PinDir, e.Name())))
	}
	return errors.Join(errs...)
}
