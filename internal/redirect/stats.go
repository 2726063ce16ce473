package redirect

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Indexes of the per-CPU counters, mirrored from enum sluice_counter in bpf/types.h.
const (
	cntPassed = iota
	cntRedirected
	cntRefused
	cntAmbiguous
)

// Stats are the programs' counters (summed over CPUs, since attach of the pinned maps) and
// the occupancy of the origin maps, for metrics and `sluice status`.
type Stats struct {
	// Passed counts connects to a redirected port that stayed direct (mode off or unset).
	Passed uint64
	// Redirected counts connects rewritten to the proxy.
	Redirected uint64
	// Refused counts connects failed closed (no agent listener, no node address, map full).
	Refused uint64
	// Ambiguous counts tuple collisions between sockets (the proxy refuses those).
	Ambiguous uint64
	// Origins is the number of live client sockets with a recorded origin.
	Origins int
	// Tuples is the number of published connection tuples.
	Tuples int
}

// Stats reads the counters and counts the origin map entries.
func (r *Redirect) Stats() (Stats, error) {
	var s Stats
	dst := [...]*uint64{cntPassed: &s.Passed, cntRedirected: &s.Redirected, cntRefused: &s.Refused, cntAmbiguous: &s.Ambiguous}
	for i, p := range dst {
		var perCPU []uint64
		if err := r.objs.Counters.Lookup(uint32(i), &perCPU); err != nil {
			return s, fmt.Errorf("redirect: read counter %d: %w", i, err)
		}
		for _, v := range perCPU {
			*p += v
		}
	}
	var err error
	if s.Origins, err = countEntries(r.objs.ByCookie, new(uint64), new(bpfSluiceSockState)); err != nil {
		return s, err
	}
	if s.Tuples, err = countEntries(r.objs.ByTuple, new(bpfSluiceTuple), new(bpfSluiceOrigin)); err != nil {
		return s, err
	}
	return s, nil
}

func countEntries[K, V any](m *ebpf.Map, k *K, v *V) (int, error) {
	n := 0
	it := m.Iterate()
	for it.Next(k, v) {
		n++
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("redirect: count map entries: %w", err)
	}
	return n, nil
}
