package guard

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/policy/classify"
)

// pending is a recorded statement whose result has not been seen yet.
type pending struct {
	seq    uint64
	simple bool // a simple Query: complete at ReadyForQuery, summing its statements
	// refused statements were answered by sluice (denied, or not auditable): the server
	// answers the stand-in statement the proxy sent, and no outcome is recorded.
	refused        bool
	start          time.Time
	classification *classify.Classification

	tag      string
	rows     int64
	sqlstate string
	err      string
}

// outcomes matches the server's answers to recorded statements, in order: the protocol
// answers every request in the order it was sent. A simple Query ends at ReadyForQuery; an
// extended Execute at its CommandComplete, EmptyQueryResponse, PortalSuspended or
// ErrorResponse; after an error the server skips the rest of the pipeline up to Sync, so
// what is still pending at ReadyForQuery was not executed.
type outcomes struct {
	log Recorder
	// sent reads the proxy's count of bytes relayed to the client, masked the masking
	// session's count of masked values (nil: not known). A result is what was counted
	// between the previous completion, or the moment the statement was sent with nothing
	// outstanding, and its own completion.
	sent, masked func() int64

	mu      sync.Mutex
	queue   []pending
	marks   [2]int64 // sent, masked at the start of the head's result
	aborted bool     // an extended statement failed: the rest up to ReadyForQuery is skipped
	// ready are the completed outcomes not recorded yet: they are recorded by flush, once
	// the client has its answer, so that recording them does not delay it. spare is
	// ready's previous array, kept for reuse.
	ready, spare []*audit.Outcome
}

// readyMax bounds ready: a server that streams answers to a long pipeline without pause
// has its outcomes recorded every readyMax statements rather than at the end.
const readyMax = 64

// counts reads both counters (0 for one not known).
func (o *outcomes) counts() [2]int64 {
	var c [2]int64
	if o.sent != nil {
		c[0] = o.sent()
	}
	if o.masked != nil {
		c[1] = o.masked()
	}
	return c
}

func (o *outcomes) push(p pending) {
	o.mu.Lock()
	if len(o.queue) == 0 {
		o.marks = o.counts()
	}
	o.queue = append(o.queue, p)
	o.mu.Unlock()
}

// server consumes one server message; it returns the classification of a statement that
// completed successfully (the session's policy state observes it), else nil, and whether
// readyMax outcomes wait for flush.
func (o *outcomes) server(msg pgproto3.BackendMessage, session string) (*classify.Classification, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.consume(msg, session), len(o.ready) >= readyMax
}

// consume is server with mu held.
func (o *outcomes) consume(msg pgproto3.BackendMessage, session string) *classify.Classification {
	if len(o.queue) == 0 {
		return nil
	}
	head := &o.queue[0]
	switch m := msg.(type) {
	case *pgproto3.CommandComplete:
		rows := tagRows(string(m.CommandTag))
		if head.simple {
			head.tag, head.rows = string(m.CommandTag), head.rows+rows
			return nil
		}
		head.tag, head.rows = string(m.CommandTag), rows
		return o.complete(session)
	case *pgproto3.EmptyQueryResponse, *pgproto3.PortalSuspended:
		if head.simple {
			return nil
		}
		return o.complete(session)
	case *pgproto3.ErrorResponse:
		head.sqlstate, head.err = m.Code, m.Message
		if head.simple {
			return nil
		}
		o.aborted = true
		o.complete(session)
		return nil
	case *pgproto3.ReadyForQuery:
		var done *classify.Classification
		if head.simple {
			done = o.complete(session)
		}
		for len(o.queue) > 0 && !o.queue[0].simple && o.aborted {
			p := &o.queue[0]
			if p.sqlstate == "" {
				p.err = "not executed: an earlier statement of the pipeline failed"
			}
			o.complete(session)
		}
		o.aborted = false
		return done
	}
	return nil
}

// complete pops the head and makes its outcome ready to record.
func (o *outcomes) complete(session string) *classify.Classification {
	p := o.queue[0]
	o.queue = o.queue[1:]
	now := o.counts()
	bytes, cells := now[0]-o.marks[0], now[1]-o.marks[1]
	o.marks = now
	if p.refused {
		return nil
	}
	rec := &audit.Outcome{
		Session:     session,
		Seq:         p.seq,
		Duration:    audit.Nanos(time.Since(p.start)),
		Tag:         p.tag,
		Rows:        p.rows,
		Bytes:       bytes,
		MaskedCells: cells,
		SQLState:    p.sqlstate,
		Error:       p.err,
	}
	o.ready = append(o.ready, rec)
	if p.sqlstate != "" || p.err != "" {
		return nil
	}
	return p.classification
}

// flush records the ready outcomes. Outcomes are not write-ahead (the statement record
// is), so they are appended with AppendLater; a failure there is the log's own (the writer
// reports it), and the statements already ran.
func (o *outcomes) flush() {
	o.mu.Lock()
	ready := o.ready
	if len(ready) == 0 {
		o.mu.Unlock()
		return
	}
	o.ready, o.spare = o.spare, nil
	o.mu.Unlock()
	for _, rec := range ready {
		_ = o.log.AppendLater(rec)
	}
	clear(ready)
	o.mu.Lock()
	o.spare = ready[:0]
	o.mu.Unlock()
}

// tagRows reads the row count at the end of a command tag ("SELECT 3", "INSERT 0 1").
func tagRows(tag string) int64 {
	i := strings.LastIndexByte(tag, ' ')
	if i < 0 {
		return 0
	}
	n, err := strconv.ParseInt(tag[i+1:], 10, 64)
	if err != nil {
		return 0
	}
	return n
}
