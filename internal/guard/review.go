package guard

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/policy"
)

// review holds a statement for a human and settles rec with the verdict: approved
// statements are recorded as allowed with the approval; everything else (denied, timed
// out, withdrawn, or refused earlier in this session) as denied with the reason. The hold
// request itself is recorded first, so the audit log shows the wait even if the agent dies
// during it. It returns an error only when that record cannot be written.
func (s *session) review(rec *audit.Statement, d policy.Decision) error {
	s.mu.Lock()
	earlier, sticky := s.refused[d.Fingerprint]
	ident := s.ident
	s.mu.Unlock()
	if sticky {
		rec.Decision = audit.DecisionDeny
		rec.Reason = "sluice: refused earlier in this session: " + earlier
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.mu.Lock()
	s.withdraw = cancel
	s.held = true // the wait is the approver's, not sluice's overhead
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.withdraw = nil
		s.mu.Unlock()
	}()

	path, _, _ := s.g.opts.Identities.Workload(s.info.Origin)
	req := approvals.Request{
		Session:     s.id,
		Issuer:      ident.Issuer,
		Subject:     ident.Subject,
		Groups:      ident.Groups,
		Cgroup:      path,
		PID:         s.info.Origin.PID,
		Fingerprint: d.Fingerprint,
		Text:        rec.Text,
		Rule:        d.Rule,
		Message:     d.Message,
	}
	held := func(r approvals.Request) {
		s.notice(fmt.Sprintf("sluice: statement held for approval by rule %s (request %s); an approver runs: sluice approvals approve %s", d.Rule, r.ID, r.ID))
		_ = s.g.opts.Audit.Append(&audit.AgentAction{
			Actor:  "agent",
			Action: "approval_requested",
			Text:   rec.Text,
			Details: map[string]string{
				"request": r.ID, "session": s.id, "seq": fmt.Sprint(rec.Seq), "rule": d.Rule, "subject": ident.Subject,
			},
		})
	}
	r, v := s.g.opts.Approvals.Hold(ctx, req, held)
	rec.Approval = &audit.Approval{ID: r.ID, Approver: v.Approver}
	if v.Approved {
		rec.Decision = audit.DecisionAllow
		return nil
	}
	reason := v.Reason
	if reason == "" {
		reason = "denied by " + v.Approver
	}
	rec.Decision = audit.DecisionDeny
	rec.Reason = fmt.Sprintf("sluice: held by rule %s and not approved: %s", d.Rule, reason)
	s.mu.Lock()
	s.refused[d.Fingerprint] = reason
	s.mu.Unlock()
	return nil
}

// heldForApproval reports (and forgets) whether the last message waited for an approver.
func (s *session) heldForApproval() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.held
	s.held = false
	return held
}

// notice tells the client something while its session goes on (a held statement, a
// warning), as a NoticeResponse between the server's messages.
func (s *session) notice(msg string) {
	if s.info.Notify == nil {
		return
	}
	if err := s.info.Notify(&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: msg}); err != nil {
		s.g.opts.Logger.Debug("notice not delivered", "session", s.id, "err", err)
	}
}
