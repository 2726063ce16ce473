package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
)

// codeInvalidCursorName is what PostgreSQL answers for a cursor or portal that does not
// exist, which is the error the injected statements provoke.
const codeInvalidCursorName = "34000"

// denials turn a refusal into an error the server itself produces, in order. Instead of the
// refused message the proxy sends a statement that cannot succeed and has no effect: a
// FETCH from, or an Execute of, a cursor named by a random marker. The server answers it
// with an ErrorResponse in its proper place among the results of pipelined statements, and
// aborts the transaction (or the implicit one of a pipeline) exactly as a real error would;
// the downstream direction then swaps that ErrorResponse for the refusal. If the server was
// already failing the pipeline, it discards the injected statement like the refused one
// would have been, and the client sees the server's own error.
type denials struct {
	prefix string // random per session: the client cannot name a marker in advance
	seq    uint64 // markers issued; used only by the upstream direction

	n     atomic.Int32 // len(queue), read without the lock for every ErrorResponse
	mu    sync.Mutex
	queue []denial
}

type denial struct {
	marker string
	err    *Error
	// segment is the number of ReadyForQuery-producing messages sent upstream before the
	// injected one; the denial is settled at the ReadyForQuery numbered segment+1.
	segment uint64
}

func newDenials() *denials {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return &denials{prefix: "sluice_deny_" + hex.EncodeToString(b[:]) + "_"}
}

// add queues a refusal and returns the message to send upstream in place of the refused
// one: for a simple Query a FETCH (answered by ErrorResponse and ReadyForQuery, like the
// Query), for an extended-protocol message an Execute (answered by ErrorResponse, then the
// server skips to the next Sync, like after any failed extended message).
func (d *denials) add(e *Error, segment uint64, simple bool) pgproto3.FrontendMessage {
	d.seq++
	// The trailing "x" ends the number, so no marker is a substring of another, and
	// the marker is found in the message in whatever quotes lc_messages uses.
	marker := d.prefix + strconv.FormatUint(d.seq, 10) + "x"
	d.mu.Lock()
	d.queue = append(d.queue, denial{marker: marker, err: e, segment: segment})
	d.n.Store(int32(len(d.queue)))
	d.mu.Unlock()
	if simple {
		return &pgproto3.Query{String: `FETCH "` + marker + `"`}
	}
	return &pgproto3.Execute{Portal: marker}
}

// pending reports whether any refusal awaits its ErrorResponse.
func (d *denials) pending() bool { return d.n.Load() > 0 }

// rewrite returns the refusal to send instead of er when er is the server's answer to an
// injected statement, or nil.
func (d *denials) rewrite(er *pgproto3.ErrorResponse) *pgproto3.ErrorResponse {
	if er.Code != codeInvalidCursorName || !strings.Contains(er.Message, d.prefix) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range d.queue {
		if strings.Contains(er.Message, p.marker) {
			d.queue = append(d.queue[:i], d.queue[i+1:]...)
			d.n.Store(int32(len(d.queue)))
			return p.err.response(severityError)
		}
	}
	return nil
}

// settle forgets refusals whose segment ended with the ReadyForQuery numbered rfq: the
// server discarded their injected statement after an earlier error.
func (d *denials) settle(rfq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	kept := d.queue[:0]
	for _, p := range d.queue {
		if p.segment >= rfq {
			kept = append(kept, p)
		}
	}
	d.queue = kept
	d.n.Store(int32(len(d.queue)))
}
