package masking

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// errUnexpected reports a server message that does not fit what was sent: the result
// cannot be attributed to a statement, so it is not let through.
var errUnexpected = errors.New("masking: a server message does not match the requests sent")

// ServerMessage masks one server message: nil passes it unchanged, otherwise the message
// to send instead (valid until the next call). An error means the result cannot be
// masked safely; the caller must end the session rather than relay it.
func (s *Session) ServerMessage(msg pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	if s.off {
		return nil, nil
	}
	// A row of a result whose masking is known touches only the server direction's own
	// state (see Wants): no lock.
	if m, ok := msg.(*pgproto3.DataRow); ok && s.rows != nil {
		return s.maskRow(s.rows, m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m := msg.(type) {
	case *pgproto3.DataRow:
		return s.dataRow(m)
	case *pgproto3.CopyData:
		if s.copy == nil {
			return nil, nil // COPY FROM's data never comes from the server; nothing to mask
		}
		return s.copyRow(m)
	case *pgproto3.RowDescription:
		return nil, s.rowDescription(m)
	case *pgproto3.CopyOutResponse:
		return nil, s.copyOut(m)
	case *pgproto3.CommandComplete:
		s.complete()
	case *pgproto3.EmptyQueryResponse, *pgproto3.PortalSuspended:
		s.endResult()
	case *pgproto3.ErrorResponse:
		out := s.scrubError(m, false)
		s.failed()
		if out != nil {
			return out, nil
		}
	case *pgproto3.NoticeResponse:
		if out := s.scrubError((*pgproto3.ErrorResponse)(m), true); out != nil {
			return (*pgproto3.NoticeResponse)(out), nil
		}
	case *pgproto3.NotificationResponse:
		return s.scrubNotification(m), nil
	case *pgproto3.ReadyForQuery:
		s.ready(m.TxStatus)
	case *pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.CloseComplete, *pgproto3.NoData:
		s.pop()
	}
	return nil, nil
}

func (s *Session) head() *pending {
	if len(s.queue) == 0 {
		return nil
	}
	return s.queue[0]
}

func (s *Session) pop() {
	if len(s.queue) > 0 {
		s.queue[0] = nil
		s.queue = s.queue[1:]
	}
}

// current is the plan of the statement whose results are arriving.
func (s *Session) current() *stmtPlan {
	h := s.head()
	switch {
	case h == nil:
		return nil
	case h.kind == 'Q' && h.idx < len(h.results):
		return h.results[h.idx]
	case h.kind == 'Q':
		return unknownPlan // more results than planned statements
	case h.kind == 'E':
		return h.results[0]
	}
	return nil
}

func (s *Session) rowDescription(m *pgproto3.RowDescription) error {
	h := s.head()
	if h == nil {
		return fmt.Errorf("%w: RowDescription with nothing pending", errUnexpected)
	}
	fields := copyFields(m.Fields)
	switch h.kind {
	case 'Q':
		ctx, cancel := context.WithTimeout(context.Background(), catalogWait)
		defer cancel()
		sp := s.current()
		rm, err := s.buildRows(ctx, s.factory(sp.st), sp, fields, nil)
		if err != nil {
			s.log.Warn("masking: the result cannot be masked as planned (catalog lookup or strategy failed); every value is sent as NULL", "err", err)
			rm = nullRows(len(fields))
		}
		s.rows = rm
		return nil
	case 'D':
		if h.stmt != nil {
			h.stmt.fields = fields
		}
		if h.portal != nil {
			h.portal.fields = fields
		}
		s.pop()
		return nil
	}
	return fmt.Errorf("%w: RowDescription while waiting for %q", errUnexpected, h.kind)
}

// complete ends a statement's result (CommandComplete).
func (s *Session) complete() {
	h := s.head()
	if h == nil {
		return
	}
	if sp := s.current(); sp != nil && sp.res.DDL {
		s.ddl = true
		s.cat.Invalidate()
	}
	s.endResult()
}

// endResult ends the current result: a simple Query moves on to its next statement, an
// Execute is answered.
func (s *Session) endResult() {
	s.rows, s.copy = nil, nil
	h := s.head()
	switch {
	case h == nil:
	case h.kind == 'Q':
		h.idx++
	case h.kind == 'E':
		s.pop()
	}
}

// failed handles an ErrorResponse: a simple Query stops (its ReadyForQuery follows); in
// the extended protocol the server skips everything up to the next Sync.
func (s *Session) failed() {
	s.rows, s.copy = nil, nil
	h := s.head()
	if h == nil || h.kind == 'Q' || h.kind == 'q' {
		return
	}
	for h := s.head(); h != nil && h.kind != 'S'; h = s.head() {
		s.pop()
	}
}

// ready handles ReadyForQuery: the end of a simple Query or of a Sync. Once a transaction
// that ran DDL is over, the catalog is invalidated again: its changes are now visible to
// the catalog connection.
func (s *Session) ready(status byte) {
	s.rows, s.copy = nil, nil
	for h := s.head(); h != nil; h = s.head() {
		s.pop()
		if h.kind == 'Q' || h.kind == 'q' || h.kind == 'S' {
			break
		}
	}
	if s.ddl && status == 'I' {
		s.ddl = false
		s.cat.Invalidate()
	}
}
