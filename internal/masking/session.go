package masking

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// Session follows one client connection: it decides each client message (Check), learns
// what went upstream (Sent), and masks what comes back (ServerMessage). Check and Sent are
// called from the client direction, Wants and ServerMessage from the server direction;
// the two directions may run concurrently, but each from one goroutine at a time.
type Session struct {
	e      *Engine
	cat    catalog.Catalog
	groups []string
	off    bool // opened without rules: nothing is masked for the session's life
	log    *slog.Logger

	mu         sync.Mutex
	queue      []*pending
	statements map[string]*statement // extended-protocol prepared statements
	portals    map[string]*portal
	cursors    map[string]*stmtPlan // SQL cursors (DECLARE)
	prepared   map[string]*stmtPlan // SQL prepared statements (PREPARE)
	ddl        bool                 // DDL ran in the current transaction
	cleared    clearance

	// Used by the server direction only, without the lock.
	rows *rowMasker
	copy *copyMasker
	f    *factory
	dst  []byte
	vals [][]byte
	row  pgproto3.DataRow
	data pgproto3.CopyData
	// cells counts the values masked so far (MaskedCells); read from any goroutine.
	cells atomic.Int64
}

// clearance caches the rules an identity sees in clear under one rule set.
type clearance struct {
	st  *engineState
	set lineage.Set
}

// statement is an extended-protocol prepared statement.
type statement struct {
	plan      *queryPlan
	fields    []pgproto3.FieldDescription // from Describe
	described bool                        // a Describe was sent for it
}

func (s *statement) stmtPlan() *stmtPlan {
	if s == nil || s.plan == nil {
		return unknownPlan
	}
	if len(s.plan.stmts) == 0 {
		return &stmtPlan{res: &lineage.Result{}}
	}
	return s.plan.stmts[0]
}

// portal is a bound statement (or a SQL cursor executed through the protocol).
type portal struct {
	name      string
	stmt      *statement
	formats   []int16
	fields    []pgproto3.FieldDescription // from Describe of the portal
	described bool
	cursor    *stmtPlan // a SQL cursor's plan, when the portal is one
}

// pending is a client message whose answer has not been seen yet.
type pending struct {
	kind   byte // 'Q','P','B','D','E','C','S'; 'q' and 'x': the proxy's stand-in for a refused simple or extended message
	plan   *queryPlan
	idx    int // Query: the statement being answered
	stmt   *statement
	portal *portal
	name   string
	target byte // Describe and Close: 'S' or 'P'
	// results are the plans whose results the statements return (a FETCH its cursor's),
	// resolved when the request was sent: a later request may reuse the names.
	results []*stmtPlan
}

// NewSession starts following a connection to the target whose catalog is cat, for an
// identity in groups. With no rules loaded the session masks nothing, for its whole life.
func (e *Engine) NewSession(cat catalog.Catalog, groups []string) *Session {
	return &Session{
		e:          e,
		cat:        cat,
		groups:     append([]string(nil), groups...),
		off:        len(e.state.Load().rules.Rules) == 0,
		log:        e.opts.Logger,
		statements: map[string]*statement{},
		portals:    map[string]*portal{},
		cursors:    map[string]*stmtPlan{},
		prepared:   map[string]*stmtPlan{},
	}
}

// MaskedCells is how many result values (DataRow and COPY fields) the session has masked
// so far, from any goroutine: the difference across a result is what its audit outcome
// reports.
func (s *Session) MaskedCells() int64 { return s.cells.Load() }

// Off reports whether the session masks nothing (no rules when it opened): the caller may
// then skip it entirely.
func (s *Session) Off() bool { return s.off }

// ClientInterest and ServerInterest are the message types a Session must be shown: on the
// client side every message that starts or ends a request (Sync included: it delimits the
// extended protocol's pipelines, and the server's error recovery skips to it), on the
// server side everything that starts, carries or ends a result, and the messages that
// carry free text. DataRow ('D') and CopyData ('d') need decoding only when Wants says so.
const (
	ClientInterest = "QPBEDCS"
	ServerInterest = "TDHdCIsEZNA123n"
)

func (s *Session) clearedSet(st *engineState) lineage.Set {
	if s.cleared.st != st {
		s.cleared = clearance{st: st, set: st.rules.cleared(s.groups)}
	}
	return s.cleared.set
}

func (p *portal) plan() *stmtPlan {
	if p.cursor != nil {
		return p.cursor
	}
	return p.stmt.stmtPlan()
}

// register follows the SQL-level names a statement creates or drops.
func (s *Session) register(sp *stmtPlan) {
	r := sp.res
	switch r.Kind {
	case lineage.KindDeclare:
		s.cursors[r.Name] = sp
		delete(s.portals, r.Name)
	case lineage.KindClose:
		if r.Name == "" {
			for name := range s.cursors {
				delete(s.portals, name)
			}
			clear(s.cursors)
		}
		delete(s.cursors, r.Name)
		delete(s.portals, r.Name)
	case lineage.KindPrepare:
		s.prepared[r.Name] = sp
	case lineage.KindDeallocate:
		if r.Name == "" {
			clear(s.prepared)
		}
		delete(s.prepared, r.Name)
	}
}

// effective resolves the plan whose results a statement returns: a FETCH returns its
// cursor's, an EXECUTE its prepared statement's. One that masking did not see declared
// (opened by a function, say) gets unknownPlan.
func (s *Session) effective(sp *stmtPlan) *stmtPlan {
	var m map[string]*stmtPlan
	switch sp.res.Kind {
	case lineage.KindFetch:
		m = s.cursors
	case lineage.KindExecute:
		m = s.prepared
	default:
		return sp
	}
	if p, ok := m[sp.res.Name]; ok {
		return p
	}
	return unknownPlan
}
