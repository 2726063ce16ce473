package agent

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/roles"
)

// loginMappers builds the identity-to-login mapper of every target that has one. The
// statements run for ephemeral roles are the agent's own and go to the audit log as agent
// actions; one that cannot be recorded is not run.
func (a *Agent) loginMappers(ctx context.Context, cfg *Config, ts []proxy.Target) (map[string]*roles.Mapper, error) {
	out := map[string]*roles.Mapper{}
	for i, t := range cfg.Targets {
		if t.Roles == nil {
			continue
		}
		m, err := roles.New(ctx, *t.Roles, ts[i], roles.Options{
			Prefix: roles.DefaultPrefix(cfg.Agent.Name),
			Audit:  func(s roles.Statement) error { return a.audit.Append(adminAction(s)) },
			Logger: a.log,
		})
		if err != nil {
			closeMappers(out)
			return nil, fmt.Errorf("%s: target %s: roles: %w", cfg.file, t.Name, err)
		}
		out[t.Name] = m
	}
	return out, nil
}

// cleanupRoles drops the ephemeral roles an earlier agent on this node left behind (it
// died before its sessions ended). Only at start: on reload live sessions still use theirs.
func (a *Agent) cleanupRoles(ctx context.Context, mappers map[string]*roles.Mapper) {
	for target, m := range mappers {
		dropped, err := m.Cleanup(ctx)
		if err != nil {
			a.log.Error("ephemeral role clean-up failed", "target", target, "err", err)
			continue
		}
		if len(dropped) > 0 {
			a.log.Info("dropped ephemeral roles left by an earlier agent", "target", target, "roles", dropped)
		}
	}
}

func closeMappers(m map[string]*roles.Mapper) {
	for _, mp := range m {
		mp.Close()
	}
}

func adminAction(s roles.Statement) *audit.AgentAction {
	act := &audit.AgentAction{
		Actor:  "agent",
		Action: "admin_statement",
		Text:   s.Text,
		Details: map[string]string{
			"target": s.Target, "reason": s.Reason, "role": s.Role, "session": s.Session,
			"args": strings.Join(s.Args, ", "),
		},
	}
	if s.Err != nil {
		act.Error = s.Err.Error()
	}
	return act
}
