package guard

import (
	"context"
	"time"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/proxy"
)

// releaseTimeout bounds dropping a session's ephemeral role when the session ends.
const releaseTimeout = 30 * time.Second

// lease chooses the database login for the session from its verified identity (nil for an
// unverified audit-mode session), when the target maps identities to logins. No mapping
// refuses the session (FATAL 28000 naming the identity).
func (s *session) lease(ctx context.Context) error {
	if s.g.opts.Logins == nil {
		return nil
	}
	m := s.g.opts.Logins(s.info.Target)
	if m == nil {
		return nil
	}
	s.mu.Lock()
	var id *identity.Identity
	if s.verified {
		cur := s.ident
		id = &cur
	}
	s.mu.Unlock()
	l, err := m.Login(ctx, id, s.id)
	if err != nil {
		s.g.opts.Logger.Warn("session refused: no database login", "session", s.id, "err", err)
		return err
	}
	s.login = l
	return nil
}

// release ends the session's lease (drops its ephemeral role).
func (s *session) release() {
	if s.login == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := s.login.Release(ctx); err != nil {
		s.g.opts.Logger.Error("ephemeral role not dropped at session end (it expires with the token; the next start cleans it up)", "session", s.id, "role", s.login.User, "err", err)
	}
}

// extendLease keeps an ephemeral role valid as long as a refreshed grant.
func (s *session) extendLease(until time.Time) {
	if s.login == nil || !s.login.Ephemeral() {
		return
	}
	if err := s.login.Extend(context.Background(), until); err != nil {
		s.g.opts.Logger.Error("ephemeral role not extended", "session", s.id, "err", err)
	}
}

// leasedSession is a session whose upstream login the guard chose.
type leasedSession struct{ *session }

// UpstreamLogin implements proxy.LoginChooser.
func (l *leasedSession) UpstreamLogin(context.Context) (string, proxy.PasswordSource, error) {
	return l.login.User, l.login.Password, nil
}

// Close records the end and drops the session's ephemeral role.
func (l *leasedSession) Close(err error) {
	l.session.Close(err)
	l.release()
}
