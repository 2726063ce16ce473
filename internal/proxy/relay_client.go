package proxy

import (
	"errors"
	"fmt"
	"io"
)

// smallMessageLimit is PostgreSQL's PQ_SMALL_MESSAGE_LIMIT, the body size limit of the
// client messages that carry no statement text or data.
const smallMessageLimit = 10000

// errTerminated means the client ended the session with Terminate.
var errTerminated = errors.New("client sent Terminate")

// errFunctionCall answers the fastpath FunctionCall message, which would call a function
// by OID with no statement an Inspector could judge.
var errFunctionCall = &Error{
	Code:    CodeFeatureNotSupported,
	Message: "the fastpath function call interface is not supported through sluice",
	Hint:    "Call the function in a SELECT statement instead.",
}

// clientToServer relays client messages upstream until the client leaves or breaks the
// protocol, then stops the other direction by closing the upstream connection.
func (s *session) clientToServer() {
	err := s.relayClient()
	switch {
	case errors.Is(err, errTerminated):
		s.end(nil)
		_ = s.upstream.Conn.Close()
	case errors.Is(err, errMalformed):
		s.log.Warn("protocol violation by client", "err", err)
		s.abort(protocolViolation(err.Error()), err)
	case errors.Is(err, io.EOF):
		s.end(errClientClosed)
		_ = s.upstream.Conn.Close()
	default:
		s.end(err)
		_ = s.upstream.Conn.Close()
	}
}

func (s *session) relayClient() error {
	for {
		typ, n, err := s.up.header()
		if err != nil {
			return err
		}
		if err := s.clientMessage(typ, n); err != nil {
			return err
		}
	}
}

// clientMessage relays one client message whose header has been read.
func (s *session) clientMessage(typ byte, n int) error {
	if err := s.checkClientMessage(typ, n); err != nil {
		return err
	}
	switch {
	case typ == 'X':
		// The client's reason comes first: once the server has the Terminate it closes
		// the connection, and the other direction would report that as the cause.
		s.end(nil)
		if err := s.up.forward(typ, n); err != nil {
			return err
		}
		_ = s.up.dst.Flush()
		return errTerminated
	case s.swallowing && typ != 'S':
		return s.up.skip(n)
	case typ == 'F':
		if err := s.up.skip(n); err != nil {
			return err
		}
		return s.deny(typ, errFunctionCall)
	case s.interest.Client.Has(typ):
		return s.inspectClient(typ, n)
	}
	if err := s.up.forward(typ, n); err != nil {
		return err
	}
	s.forwarded(typ)
	return nil
}

// checkClientMessage enforces the message types a client may send after the startup and
// PostgreSQL's size limits: messages without text must be small (or empty), the others
// at most MaxMessageSize.
func (s *session) checkClientMessage(typ byte, n int) error {
	limit := s.srv.cfg.MaxMessageSize
	switch typ {
	case 'Q', 'P', 'B', 'F', 'd', 'f':
	case 'C', 'D', 'E':
		limit = min(limit, smallMessageLimit)
	case 'S', 'H', 'X', 'c':
		limit = 0
	default:
		return fmt.Errorf("%w: invalid frontend message type %d", errMalformed, typ)
	}
	if n > limit {
		return fmt.Errorf("%w: message %q of %d bytes exceeds the limit of %d", errMalformed, typ, n, limit)
	}
	return nil
}

// inspectClient shows a message to the Inspector and forwards or denies it.
func (s *session) inspectClient(typ byte, n int) error {
	body, err := s.up.readBody(n)
	if err != nil {
		return err
	}
	msg, err := s.cdec.decode(typ, body)
	if err != nil {
		return err
	}
	if err := s.insp.ClientMessage(msg); err != nil {
		if typ == 'S' {
			// A Sync ends the segment the server is waiting for; refusing it would leave
			// the client and the server out of step. An inspector that cannot accept it
			// can only end the session.
			err = Fatal(asError(err, CodeProtocolViolation))
		}
		if f, ok := errors.AsType[*fatalError](err); ok {
			s.log.Info("session ended by the inspector", "code", f.e.Code, "message", f.e.Message)
			s.abort(f.e, err)
			return err
		}
		return s.deny(typ, asError(err, CodeInsufficientPrivilege))
	}
	if err := s.up.write(typ, body); err != nil {
		return err
	}
	s.forwarded(typ)
	return nil
}

// deny sends the injected statement that makes the server fail in place of the refused
// message (see denials), and in the extended protocol discards the rest of the segment.
func (s *session) deny(typ byte, e *Error) error {
	simple := typ == 'Q' || typ == 'F'
	if err := s.up.send(s.denials.add(e, s.sent.Load(), simple)); err != nil {
		return err
	}
	if simple {
		s.sent.Add(1)
	} else {
		s.swallowing = true
		s.midSegment.Store(true)
	}
	s.log.Info("statement refused", "code", e.Code, "message", e.Message)
	return nil
}

// forwarded updates the request counters after a message went upstream.
func (s *session) forwarded(typ byte) {
	switch typ {
	case 'S':
		s.swallowing = false
		s.midSegment.Store(false)
		s.sent.Add(1)
	case 'Q':
		s.sent.Add(1)
	case 'P', 'B', 'E', 'D', 'C', 'H':
		s.midSegment.Store(true)
	}
}
