package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"github.com/sluicehq/sluice/internal/origin"
)

// originAmbiguous mirrors SLUICE_ORIGIN_AMBIGUOUS.
const originAmbiguous = 1 << 0

// Lookup returns what the kernel recorded for an accepted connection, identified by the
// client's address and the proxy's local address of that connection. It satisfies
// origin.Lookup.
func (r *Redirect) Lookup(client, local netip.AddrPort) (origin.Origin, error) {
	key := bpfSluiceTuple{
		Saddr: addrWords(client.Addr()),
		Daddr: addrWords(local.Addr()),
		Sport: client.Port(),
		Dport: local.Port(),
	}
	var o bpfSluiceOrigin
	if err := r.objs.ByTuple.Lookup(&key, &o); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return origin.Origin{}, origin.ErrNotFound
		}
		return origin.Origin{}, fmt.Errorf("redirect: origin lookup: %w", err)
	}
	if o.Flags&originAmbiguous != 0 {
		return origin.Origin{}, origin.ErrAmbiguous
	}
	return origin.Origin{
		Dest:        netip.AddrPortFrom(wordsAddr(o.Daddr), o.Dport),
		CgroupID:    o.CgroupId,
		PID:         o.Tgid,
		UID:         o.Uid,
		NetnsCookie: o.NetnsCookie,
		Mode:        origin.Mode(o.Mode),
		At:          time.Duration(o.TimeNs),
		Cookie:      o.Cookie,
	}, nil
}

var _ origin.Lookup = (*Redirect)(nil)
