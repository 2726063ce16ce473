package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// errDrained means the session reached an idle moment while the server shuts down.
var errDrained = errors.New("session drained for shutdown")

// inspectorError marks an Inspector's failure on a result message.
type inspectorError struct{ err error }

func (e *inspectorError) Error() string { return "inspecting a result: " + e.err.Error() }
func (e *inspectorError) Unwrap() error { return e.err }

// serverToClient relays server messages to the client until either side ends, then sends
// the client the reason if it has to know one, and closes the client connection.
func (s *session) serverToClient() {
	err := s.relayServer()
	var ie *inspectorError
	switch {
	case errors.Is(err, errDrained):
		s.abort(errShutdown, errShutdown)
	case errors.As(err, &ie):
		s.log.Error("inspector failed on a result", "err", ie.err)
		s.abort(asError(ie.err, CodeInternalError), err)
	case errors.Is(err, errMalformed):
		s.log.Warn("protocol violation by server", "err", err)
		s.abort(&Error{Code: CodeProtocolViolation, Message: "sluice: the database server sent an invalid message"}, err)
	case errors.Is(err, io.EOF):
		s.end(errServerClosed)
	default:
		s.end(err)
	}
	s.downMu.Lock()
	if e := s.fatal.Load(); e != nil && !s.pending {
		_ = s.down.send(e.response(severityFatal))
	}
	_ = s.down.dst.Flush()
	s.downMu.Unlock()
	_ = s.client.Close()
	_ = s.upstream.Conn.Close()
}

// relayServer holds downMu while it writes to the client, and releases it only while it
// waits, with nothing left to flush, for the server's next message: that is when notify may
// slip a message in between two of the server's, and when the inspector's ServerIdle runs.
func (s *session) relayServer() error {
	s.downMu.Lock()
	defer s.downMu.Unlock()
	for {
		if s.down.src.Buffered() < 5 {
			if s.down.dst.Buffered() > 0 {
				if err := s.down.dst.Flush(); err != nil {
					return err
				}
			}
			s.downMu.Unlock()
			if s.idler != nil {
				s.idler.ServerIdle()
			}
			_, err := s.down.src.Peek(5)
			s.downMu.Lock()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		typ, n, err := s.down.header()
		if err != nil {
			return err
		}
		if err := s.serverMessage(typ, n); err != nil {
			return err
		}
	}
}

// notify sends msg to the client between two server messages, from any goroutine: the
// inspector tells a client about a statement it holds while the server has nothing to say.
func (s *session) notify(msg *pgproto3.NoticeResponse) error {
	s.downMu.Lock()
	defer s.downMu.Unlock()
	if err := s.down.send(msg); err != nil {
		return err
	}
	return s.down.dst.Flush()
}

// serverMessage relays one server message whose header has been read. Only
// ReadyForQuery, the ErrorResponse that may answer an injected statement, and what the
// Inspector asked for are read whole; everything else streams through undecoded.
func (s *session) serverMessage(typ byte, n int) error {
	inspect := s.interest.Server.Has(typ)
	if inspect && (typ == 'D' || typ == 'd') && s.rows != nil {
		inspect = s.rows.Wants(typ)
	}
	if typ != 'Z' && typ != 'A' && !inspect && (typ != 'E' || !s.denials.pending()) {
		s.pending = true
		err := s.down.forward(typ, n)
		s.pending = err != nil
		return err
	}
	if n > s.srv.cfg.MaxMessageSize {
		return fmt.Errorf("%w: message %q of %d bytes exceeds the limit of %d", errMalformed, typ, n, s.srv.cfg.MaxMessageSize)
	}
	body, err := s.down.readBody(n)
	if err != nil {
		return err
	}
	var msg pgproto3.BackendMessage // the decoded body, once needed
	var out pgproto3.BackendMessage // nil: send body unchanged
	switch typ {
	case 'Z':
		if n != 1 {
			return fmt.Errorf("%w: ReadyForQuery of %d bytes", errMalformed, n)
		}
		s.readyForQuery(body[0])
	case 'A':
		s.ownNotification(body)
	case 'E':
		if s.denials.pending() {
			if msg, err = s.sdec.decode(typ, body); err != nil {
				return err
			}
			if r := s.denials.rewrite(msg.(*pgproto3.ErrorResponse)); r != nil {
				out = r
			}
		}
	}
	if inspect {
		in := out
		if in == nil && msg == nil {
			if msg, err = s.sdec.decode(typ, body); err != nil {
				return err
			}
		}
		if in == nil {
			in = msg
		}
		r, err := s.insp.ServerMessage(in)
		if err != nil {
			return &inspectorError{err}
		}
		if r != nil {
			out = r
		}
	}
	if out != nil {
		err = s.down.send(out)
	} else {
		err = s.down.write(typ, body)
	}
	if err == nil && typ == 'Z' && s.draining.Load() && s.idle() {
		return errDrained
	}
	return err
}

// ownNotification makes a notification the session sent itself carry the process id the
// client was given, not the server's: clients (libpq's documented idiom, pgx) recognise
// their own notifications by comparing with the id from BackendKeyData, which through
// sluice is the proxy's.
func (s *session) ownNotification(body []byte) {
	if len(body) >= 4 && binary.BigEndian.Uint32(body) == s.upstream.PID {
		binary.BigEndian.PutUint32(body, s.key.ProcessID)
	}
}

// readyForQuery notes the end of a request: it settles denials whose injected statement
// the server skipped, and tells whether the session is now between transactions.
func (s *session) readyForQuery(status byte) {
	rfq := s.ready.Add(1)
	if s.denials.pending() {
		s.denials.settle(rfq)
	}
	s.outside.Store(status == 'I')
}
