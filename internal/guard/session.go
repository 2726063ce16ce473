package guard

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/proxy"
)

// Session is a live session as status reports it.
type Session struct {
	Info proxy.SessionInfo
	// Identity is the verified identity; zero when Unverified says why there is none.
	Identity   identity.Identity
	Unverified string
}

// session inspects one proxied session.
type session struct {
	g    *Guard
	info *proxy.SessionInfo

	mu         sync.Mutex
	id         identity.Identity
	verified   bool
	unverified string
}

func (s *session) setIdentity(id identity.Identity) {
	s.mu.Lock()
	s.id, s.verified = id, true
	s.mu.Unlock()
}

func (s *session) snapshot() Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Session{Info: *s.info, Identity: s.id, Unverified: s.unverified}
}

var statements = proxy.Messages("QP")

// Interest asks for the messages that start statements.
func (s *session) Interest() proxy.Interest {
	return proxy.Interest{Client: statements}
}

// ClientMessage re-checks the identity grant before each statement: an expired grant, or a
// different holder after re-enrollment, ends the session (FATAL 28000).
func (s *session) ClientMessage(pgproto3.FrontendMessage) error {
	s.mu.Lock()
	verified, cur := s.verified, s.id
	s.mu.Unlock()
	if !verified {
		return nil
	}
	id, err := s.g.opts.Identities.Continue(context.Background(), s.info.Origin, cur)
	if err != nil {
		s.g.opts.Logger.Info("session ended: identity grant no longer valid", "session", s.info.ID, "subject", cur.Subject, "err", err)
		return proxy.Fatal(&proxy.Error{Code: proxy.CodeInvalidAuthorization, Message: err.Error()})
	}
	s.setIdentity(id)
	return nil
}

// ServerMessage passes results through unchanged.
func (s *session) ServerMessage(pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	return nil, nil
}

// Close removes the session from the live table.
func (s *session) Close(error) { s.g.closed(s.info.ID) }
