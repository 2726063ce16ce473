package guard

import (
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/proxy"
)

// errNowEnforced ends an audit-mode session whose cgroup was switched to enforce. The
// client gets what PostgreSQL sends when an administrator terminates a backend, which
// clients and pools treat as a reason to reconnect; the new connection is redirected in
// enforce mode and gets every check of one (verified identity, startup parameters,
// masking) from its start.
var errNowEnforced = proxy.Fatal(&proxy.Error{
	Code:    proxy.CodeAdminShutdown,
	Message: "sluice: this connection's cgroup is now enforced; reconnect to continue under enforcement",
})

// followMode ends an audit-mode session at its next message once its cgroup is enforced.
// A switch to enforce is the security team closing a gap, so a connection opened before
// it must not keep unenforced access for as long as it lives. The session cannot change
// mode in place: its identity, startup parameters and masking were settled, for audit
// mode, when it opened. Switches the other way (enforce to audit or off) leave live
// sessions enforced until they end, the stricter choice. The check costs one atomic load
// per message until some mode changes; then the session reads its cgroup's mode once.
func (s *session) followMode() error {
	modes := s.g.opts.Modes
	if s.enforce || modes == nil {
		return nil
	}
	gen := modes.Generation()
	if gen == s.modeGen {
		return nil
	}
	s.modeGen = gen
	mode, err := modes.EffectiveModeOf(s.info.Origin.CgroupID)
	if err != nil {
		// The cgroup is gone: its processes are too, so nothing new can connect from it.
		s.g.opts.Logger.Debug("session's cgroup mode unknown", "session", s.id, "err", err)
		return nil
	}
	if mode != origin.ModeEnforce {
		return nil
	}
	s.g.opts.Logger.Info("audit-mode session ended: its cgroup is now enforced", "session", s.id, "cgroup", s.info.Origin.CgroupID)
	s.endRecord("the cgroup was switched to enforce")
	return errNowEnforced
}
