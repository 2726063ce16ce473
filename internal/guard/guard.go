// Package guard is the proxy's inspector: for every redirected session it establishes who
// the workload is (identity), and for every statement it checks the grant is still valid,
// decides (policy) and records the attempt before it runs (audit). It holds no protocol
// code: the proxy shows it decoded messages through the proxy.Inspector seam.
package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/masking"
	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/policy"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/roles"
)

// Identities is what the guard needs of the identity resolver.
type Identities interface {
	// Identity returns the verified identity of the cgroup that opened the connection.
	Identity(ctx context.Context, o origin.Origin) (identity.Identity, error)
	// Continue re-checks the grant before a statement: the same holder, not expired
	// (a refreshed token extends it).
	Continue(ctx context.Context, o origin.Origin, cur identity.Identity) (identity.Identity, error)
	// Workload names the cgroup and what runs in it, for the audit record.
	Workload(o origin.Origin) (string, identity.Workload, error)
}

// Decider is what the guard needs of the policy engine.
type Decider interface {
	DecideInSession(ctx context.Context, id policy.Identity, s policy.Session, sql string) policy.Decision
	DecideStartup(id policy.Identity, params map[string]string) policy.Decision
}

// Recorder is what the guard needs of the audit log: Append for the write-ahead statement
// records, AppendLater for the records that only complete the story (session start and
// end, outcomes), which ride along with the next write.
type Recorder interface {
	Append(ev audit.Event) error
	AppendLater(ev audit.Event) error
}

// Modes is what the guard needs of the cgroups' modes as they are now (redirect.Redirect).
type Modes interface {
	// Generation changes whenever a cgroup's mode is set.
	Generation() uint64
	// EffectiveModeOf is the mode a cgroup has now: its own or its nearest ancestor's.
	EffectiveModeOf(cgroupID uint64) (origin.Mode, error)
}

// Approver holds a statement until a human decides (approvals.Store).
type Approver interface {
	Hold(ctx context.Context, req approvals.Request, held func(approvals.Request)) (approvals.Request, approvals.Verdict)
}

// Options are the guard's collaborators; all are required.
type Options struct {
	Identities Identities
	Policy     Decider
	Audit      Recorder
	Approvals  Approver
	// Logins returns the target's identity-to-login mapper, nil when the target logs
	// every session in as its own user.
	Logins func(target string) *roles.Mapper
	// Masking masks results of enforce-mode sessions; nil masks nothing. Catalogs gives
	// the catalog of a target's database that resolves result columns to their origin.
	Masking  *masking.Engine
	Catalogs func(target, database string) catalog.Catalog
	Logger   *slog.Logger
	// Counter is told every statement decision, for metrics; nil ignores them.
	Counter func(decision string)
	// MaxParameterBytes caps each bind parameter value kept in a statement record;
	// longer values keep their first bytes, size and SHA-256. Zero means
	// DefaultMaxParameterBytes.
	MaxParameterBytes int
	// Overhead is told how long the guard held each client message before the proxy
	// could forward it (identity check, decision, write-ahead record; approvals
	// excluded): the latency sluice adds per statement. Nil ignores it.
	Overhead func(time.Duration)
	// Modes lets an audit-mode session learn that its cgroup was switched to enforce
	// (followMode); nil: every session keeps the mode its connection was redirected with.
	Modes Modes
}

// DefaultMaxParameterBytes is how much of each bind parameter a statement record keeps by
// default: enough for any key, name or small document, while a bulk bytea or JSON upload
// is recorded by size and hash (pgaudit's log_parameter_max_size serves the same end).
const DefaultMaxParameterBytes = 4096

// Guard implements proxy.Inspector and keeps the table of live sessions for status.
type Guard struct {
	opts Options
	// epoch makes session ids unique across agent restarts: the proxy's ids restart at 1.
	epoch string

	mu   sync.Mutex
	live map[uint64]*session
}

// New returns a guard.
func New(opts Options) (*Guard, error) {
	if opts.Identities == nil || opts.Policy == nil || opts.Audit == nil || opts.Approvals == nil {
		return nil, errors.New("guard: identities, policy, audit and approvals are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Counter == nil {
		opts.Counter = func(string) {}
	}
	if opts.Overhead == nil {
		opts.Overhead = func(time.Duration) {}
	}
	if opts.MaxParameterBytes <= 0 {
		opts.MaxParameterBytes = DefaultMaxParameterBytes
	}
	return &Guard{opts: opts, epoch: fmt.Sprintf("%x", time.Now().Unix()), live: map[uint64]*session{}}, nil
}

// OpenSession establishes the session's identity, checks its startup parameters and
// records its start. In enforce mode a cgroup without a verified identity is refused (FATAL
// 28000, with the message saying how to enroll it); in audit mode it is let through,
// flagged unverified. A session whose start cannot be audited is refused.
func (g *Guard) OpenSession(ctx context.Context, info *proxy.SessionInfo) (proxy.SessionInspector, error) {
	s := newSession(g, info)
	id, err := g.opts.Identities.Identity(ctx, info.Origin)
	switch {
	case err == nil:
		s.setIdentity(id)
	case s.enforce:
		g.opts.Logger.Warn("session refused: no verified identity", "session", s.id, "pid", info.Origin.PID, "err", err)
		return nil, &proxy.Error{Code: proxy.CodeInvalidAuthorization, Message: err.Error()}
	default:
		s.unverified = err.Error()
		g.opts.Logger.Warn("audit-mode session without a verified identity", "session", s.id, "pid", info.Origin.PID, "err", err)
	}
	if err := s.lease(ctx); err != nil {
		return nil, err
	}
	if err := g.opts.Audit.AppendLater(s.startRecord()); err != nil {
		g.opts.Logger.Error("session refused: audit log unavailable", "session", s.id, "err", err)
		s.release()
		return nil, auditUnavailable(err)
	}
	if d := g.opts.Policy.DecideStartup(s.policyID(), startupParams(info)); d.Action == policy.Deny && s.enforce {
		s.endRecord("startup parameters denied by rule " + d.Rule)
		s.release()
		return nil, &proxy.Error{Code: proxy.CodeInsufficientPrivilege, Message: denialMessage(d)}
	}
	if g.opts.Masking != nil && s.enforce {
		s.ms = g.opts.Masking.NewSession(g.opts.Catalogs(info.Target, info.Database), s.ident.Groups)
		if s.ms.Off() {
			s.ms = nil // no rule applies to this identity: results pass as raw frames
		} else {
			s.outcomes.masked = s.ms.MaskedCells
		}
	}
	g.mu.Lock()
	g.live[info.ID] = s
	g.mu.Unlock()
	if s.login != nil {
		return &leasedSession{s}, nil
	}
	return s, nil
}

// startupParams are the settings the client asked for at startup (options, client_encoding,
// ...), which the policy judges like SET: they can change how statements parse.
func startupParams(info *proxy.SessionInfo) map[string]string {
	return info.Parameters
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

// auditUnavailable is what a client gets when its statement cannot be recorded: the
// statement is refused rather than run unaudited (SQLSTATE 58030, io_error).
func auditUnavailable(err error) *proxy.Error {
	return &proxy.Error{
		Code:    "58030",
		Message: "sluice: the statement was not run because the audit log cannot be written",
		Detail:  err.Error(),
	}
}

// denialMessage is what the client sees: the rule's name and message, never its internals.
func denialMessage(d policy.Decision) string {
	msg := "sluice: denied by rule " + d.Rule
	if d.Message != "" {
		msg += ": " + d.Message
	}
	return msg
}
