package redirect

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
)

// maxLevels mirrors SLUICE_MAX_LEVELS: the programs read modes down to this cgroup depth.
const maxLevels = 32

// CgroupMode is one explicit setting in the enforcement map.
type CgroupMode struct {
	ID   uint64
	Path string // absolute; empty when the cgroup no longer exists
	Mode origin.Mode
}

// SetMode sets (or, with origin.ModeUnset, clears) the explicit mode of a cgroup; its
// descendants inherit it unless they have their own. One map write: it takes effect for the
// next connect(). Exempt cgroups cannot be changed here, so nothing can turn enforcement on
// for the agent's own upstream connections, and ModeExempt is only set through Exempt.
func (r *Redirect) SetMode(path string, mode origin.Mode) error {
	if mode == origin.ModeExempt {
		return errors.New("redirect: exemption is set with Exempt, for the agent's own cgroup only")
	}
	return r.set(path, mode)
}

// Exempt marks a cgroup (the agent's own) as never redirected. Modes are nearest-wins, so
// an enforced ancestor does not pull the agent's upstream connections back into the proxy.
func (r *Redirect) Exempt(path string) error {
	return r.set(path, origin.ModeExempt)
}

func (r *Redirect) set(path string, mode origin.Mode) error {
	abs, err := cgroup.Resolve(path)
	if err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	if err := r.covers(abs); err != nil {
		return err
	}
	id, err := cgroup.ID(abs)
	if err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var cur uint32
	err = r.objs.Modes.Lookup(id, &cur)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("redirect: read mode of %s: %w", cgroup.Name(abs), err)
	}
	if origin.Mode(cur) == origin.ModeExempt && mode != origin.ModeExempt {
		return fmt.Errorf("redirect: %s is exempt (the agent's own cgroup); its mode cannot be changed", cgroup.Name(abs))
	}
	r.sweep()
	// Tuples are published before the first connect is redirected, and for a moment after
	// the last one.
	if redirects(mode) {
		if err := r.track(abs, id); err != nil {
			return err
		}
	} else if _, ok := r.tracked[id]; ok {
		defer r.untrackLater(id)
	}
	if mode == origin.ModeUnset {
		if err := r.objs.Modes.Delete(id); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("redirect: clear mode of %s: %w", cgroup.Name(abs), err)
		}
	} else if err := r.objs.Modes.Put(id, uint32(mode)); err != nil {
		return fmt.Errorf("redirect: set mode of %s: %w", cgroup.Name(abs), err)
	}
	r.gen.Add(1)
	return nil
}

// Generation changes whenever a cgroup's mode is set. Whoever acted on a mode (a proxied
// session, on the mode its connection was redirected with) can tell from it, with one
// atomic load per statement, whether that mode may have changed since.
func (r *Redirect) Generation() uint64 { return r.gen.Load() }

// EffectiveModeOf is EffectiveMode for the cgroup with the given id (a session's origin).
func (r *Redirect) EffectiveModeOf(id uint64) (origin.Mode, error) {
	path, err := cgroup.PathOf(id)
	if err != nil {
		return origin.ModeUnset, fmt.Errorf("redirect: %w", err)
	}
	return r.EffectiveMode(path)
}

// covers refuses cgroups the programs cannot see: outside the attach root, or deeper than
// the effective-mode walk reads.
func (r *Redirect) covers(abs string) error {
	rel, err := filepath.Rel(r.opts.CgroupRoot, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("redirect: %s is outside the attach root %s", cgroup.Name(abs), cgroup.Name(r.opts.CgroupRoot))
	}
	name := cgroup.Name(abs)
	if depth := strings.Count(strings.Trim(name, "/"), "/") + 1; name != "/" && depth >= maxLevels {
		return fmt.Errorf("redirect: %s is %d levels deep; modes can be set down to level %d", name, depth, maxLevels-1)
	}
	return nil
}

// Modes lists the explicit settings, sorted by path (vanished cgroups last).
func (r *Redirect) Modes() ([]CgroupMode, error) {
	var (
		id   uint64
		mode uint32
		out  []CgroupMode
	)
	it := r.objs.Modes.Iterate()
	for it.Next(&id, &mode) {
		path, _ := cgroup.PathOf(id) // empty for a cgroup that has gone away
		out = append(out, CgroupMode{ID: id, Path: path, Mode: origin.Mode(mode)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("redirect: read modes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Path == "") != (out[j].Path == "") {
			return out[j].Path == ""
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// EffectiveMode is the mode the programs apply to a cgroup: its own explicit setting or
// the nearest ancestor's, ModeUnset when there is none.
func (r *Redirect) EffectiveMode(path string) (origin.Mode, error) {
	abs, err := cgroup.Resolve(path)
	if err != nil {
		return origin.ModeUnset, fmt.Errorf("redirect: %w", err)
	}
	mount, err := cgroup.Mount()
	if err != nil {
		return origin.ModeUnset, err
	}
	for dir := abs; ; dir = filepath.Dir(dir) {
		id, err := cgroup.ID(dir)
		if err != nil {
			return origin.ModeUnset, fmt.Errorf("redirect: %w", err)
		}
		var m uint32
		err = r.objs.Modes.Lookup(id, &m)
		if err == nil && origin.Mode(m) != origin.ModeUnset {
			return origin.Mode(m), nil
		}
		if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return origin.ModeUnset, fmt.Errorf("redirect: read mode: %w", err)
		}
		if dir == mount || len(dir) <= len(mount) {
			return origin.ModeUnset, nil
		}
	}
}
