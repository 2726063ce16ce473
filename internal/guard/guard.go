// Package guard is the proxy's inspector: for every redirected session it establishes who
// the workload is (identity), and for every statement it checks the grant is still valid,
// decides (policy), records (audit) and masks results. It holds no protocol code: the proxy
// shows it decoded messages through the proxy.Inspector seam.
package guard

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/proxy"
)

// Identities is what the guard needs of the identity resolver.
type Identities interface {
	// Identity returns the verified identity of the cgroup that opened the connection.
	Identity(ctx context.Context, o origin.Origin) (identity.Identity, error)
	// Continue re-checks the grant before a statement: the same holder, not expired
	// (a refreshed token extends it).
	Continue(ctx context.Context, o origin.Origin, cur identity.Identity) (identity.Identity, error)
}

// Options are the guard's collaborators.
type Options struct {
	Identities Identities
	Logger     *slog.Logger
}

// Guard implements proxy.Inspector and keeps the table of live sessions for status.
type Guard struct {
	opts Options

	mu   sync.Mutex
	live map[uint64]*session
}

// New returns a guard; Identities is required.
func New(opts Options) (*Guard, error) {
	if opts.Identities == nil {
		return nil, errors.New("guard: an identity resolver is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Guard{opts: opts, live: map[uint64]*session{}}, nil
}

// OpenSession establishes the session's identity. In enforce mode a cgroup without a
// verified identity is refused (FATAL 28000, with the message saying how to enroll it); in
// audit mode it is let through, flagged unverified.
func (g *Guard) OpenSession(ctx context.Context, info *proxy.SessionInfo) (proxy.SessionInspector, error) {
	s := &session{g: g, info: info}
	id, err := g.opts.Identities.Identity(ctx, info.Origin)
	switch {
	case err == nil:
		s.setIdentity(id)
	case info.Origin.Mode == origin.ModeEnforce:
		g.opts.Logger.Warn("session refused: no verified identity", "session", info.ID, "pid", info.Origin.PID, "err", err)
		return nil, &proxy.Error{Code: proxy.CodeInvalidAuthorization, Message: err.Error()}
	default:
		s.unverified = err.Error()
		g.opts.Logger.Warn("audit-mode session without a verified identity", "session", info.ID, "pid", info.Origin.PID, "err", err)
	}
	g.mu.Lock()
	g.live[info.ID] = s
	g.mu.Unlock()
	return s, nil
}

func (g *Guard) closed(id uint64) {
	g.mu.Lock()
	delete(g.live, id)
	g.mu.Unlock()
}

// Sessions lists the live sessions, oldest first.
func (g *Guard) Sessions() []Session {
	g.mu.Lock()
	out := make([]Session, 0, len(g.live))
	for _, s := range g.live {
		out = append(out, s.snapshot())
	}
	g.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Info.ID < out[b].Info.ID })
	return out
}
