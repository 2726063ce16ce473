package guard

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/masking"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/policy"
	"github.com/sluicehq/sluice/internal/policy/classify"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/roles"
)

// Session is a live session as status reports it.
type Session struct {
	Info proxy.SessionInfo
	// Identity is the verified identity; zero when Unverified says why there is none.
	Identity   identity.Identity
	Unverified string
	// DatabaseUser is the login the session runs as upstream when the guard chose one
	// (empty: the target's own user); DatabaseRole the mapped role (for an ephemeral
	// login, the group role it belongs to).
	DatabaseUser, DatabaseRole string
}

// session inspects one proxied session. ClientMessage and ServerMessage run on different
// goroutines; the fields they share are behind mu.
type session struct {
	g       *Guard
	info    *proxy.SessionInfo
	id      string // the audit log's session id
	enforce bool   // enforce mode: denials are enforced; audit mode only records them
	// modeGen is the Modes generation an audit-mode session last checked its cgroup's
	// mode at (followMode); zero, so the first message checks once if any mode changed
	// since the agent started, also between the connect and the session's start.
	modeGen uint64

	mu         sync.Mutex
	ident      identity.Identity
	pid        policy.Identity
	verified   bool
	unverified string
	seq        uint64
	state      policy.Session
	prepared   map[string]prepared // extended protocol: statement name -> decision
	portals    map[string]portal   // portal name -> what it executes
	outcomes   outcomes
	endOnce    sync.Once
	// refused are the fingerprints an approver (or a timeout) refused in this session:
	// the refusal is sticky, so a client cannot shop for another approver by retrying.
	refused map[string]string
	// withdraw cancels the statement being held for approval (the client's cancel).
	withdraw context.CancelFunc
	// login is the database login chosen for the session; nil: the target's own.
	login *roles.Lease
	// ms masks the session's results; nil when masking is off or nothing applies.
	ms *masking.Session
	// held is set while a message waited for an approver (excluded from the overhead).
	held bool
	// classified caches what the statement records say of each classification (records.go).
	classified map[*classify.Classification]classified
}

// prepared is a statement the client prepared (Parse), with the decision taken on it.
type prepared struct {
	text     string
	decision policy.Decision
}

// portal is a bound statement (Bind), ready to Execute.
type portal struct {
	stmt   string
	params []audit.Parameter
}

func newSession(g *Guard, info *proxy.SessionInfo) *session {
	return &session{
		g:        g,
		info:     info,
		id:       fmt.Sprintf("%s-%d", g.epoch, info.ID),
		enforce:  info.Origin.Mode == origin.ModeEnforce,
		prepared: map[string]prepared{},
		portals:  map[string]portal{},
		refused:  map[string]string{},
		outcomes: outcomes{log: g.opts.Audit, sent: info.SentToClient},
	}
}

func (s *session) setIdentity(id identity.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.verified || !sameGroups(s.ident.Groups, id.Groups) || s.ident.Subject != id.Subject {
		s.pid = policy.NewIdentity(id.Issuer, id.Subject, id.Groups)
	}
	s.ident, s.verified = id, true
}

func sameGroups(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (s *session) policyID() policy.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

func (s *session) snapshot() Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Session{Info: *s.info, Identity: s.ident, Unverified: s.unverified}
	if s.login != nil {
		out.DatabaseUser, out.DatabaseRole = s.login.User, s.login.Role
	}
	return out
}

// The messages the guard decides on (client) and completes outcomes from (server).
var (
	clientInterest = proxy.Messages("QPBEC")
	serverInterest = proxy.Messages("CEIsZ")
)

// Interest asks for the messages that carry statements and their results' ends, and,
// when the session masks, what masking follows (rows are filtered per message: Wants).
func (s *session) Interest() proxy.Interest {
	if s.ms != nil {
		return proxy.Interest{Client: maskingClient, Server: maskingServer}
	}
	return proxy.Interest{Client: clientInterest, Server: serverInterest}
}

var (
	maskingClient = proxy.Messages("QPBEC" + masking.ClientInterest)
	maskingServer = proxy.Messages("CEIsZ" + masking.ServerInterest)
)

// Wants tells the proxy which result rows to decode: only those masking rewrites.
func (s *session) Wants(typ byte) bool { return s.ms != nil && s.ms.Wants(typ) }

// ClientMessage re-checks the identity grant, then decides and records statements: a
// simple Query when it arrives, an extended-protocol statement at Parse (decision) and at
// each Execute (record), so every execution the database logs has its record, written
// before the message is forwarded.
func (s *session) ClientMessage(msg pgproto3.FrontendMessage) error {
	start := time.Now()
	err := s.clientMessage(msg)
	if _, held := msg.(*pgproto3.Sync); !held && !s.heldForApproval() {
		s.g.opts.Overhead(time.Since(start))
	}
	return err
}

func (s *session) clientMessage(msg pgproto3.FrontendMessage) error {
	if err := s.followMode(); err != nil {
		return err
	}
	if err := s.continueGrant(); err != nil {
		return err
	}
	if s.ms == nil {
		return s.statement(msg)
	}
	// Masking sees every message, refused or not, to follow the session's statements.
	v := s.ms.Check(context.Background(), msg)
	var err error
	switch b, isBind := msg.(*pgproto3.Bind); {
	case v.Deny:
		err = s.maskingRefusal(msg, v)
	case isBind && v.Sensitive:
		err = s.bind(b, true)
	default:
		err = s.statement(msg)
	}
	s.ms.Sent(v, err != nil)
	return err
}

// maskingRefusal refuses a statement masking cannot make safe (a masked column in an
// output with no origin, a copy of masked values, ...), recording it like a denial.
func (s *session) maskingRefusal(msg pgproto3.FrontendMessage, v masking.Verdict) error {
	// The client sees "sluice: denied by rule <rule>: <why>", like any other denial.
	d := policy.Decision{Action: policy.Deny, Rule: v.Rule, Message: strings.TrimPrefix(v.Reason, "sluice: masking rule "+v.Rule+": ")}
	switch m := msg.(type) {
	case *pgproto3.Query:
		return s.record(m.String, audit.ProtocolSimple, nil, d, true)
	case *pgproto3.Parse:
		return s.record(m.Query, audit.ProtocolExtended, nil, d, false)
	}
	return &proxy.Error{Code: proxy.CodeInsufficientPrivilege, Message: denialMessage(d)}
}

// statement decides and records what msg asks the server to do.
func (s *session) statement(msg pgproto3.FrontendMessage) error {
	switch m := msg.(type) {
	case *pgproto3.Query:
		return s.simple(m.String)
	case *pgproto3.Parse:
		return s.parse(m.Name, m.Query)
	case *pgproto3.Bind:
		return s.bind(m, false)
	case *pgproto3.Execute:
		return s.execute(m.Portal)
	case *pgproto3.Close:
		s.mu.Lock()
		if m.ObjectType == 'S' {
			delete(s.prepared, m.Name)
		} else {
			delete(s.portals, m.Name)
		}
		s.mu.Unlock()
	}
	return nil
}

// continueGrant ends the session when its identity grant has ended (expired, or the
// cgroup now holds another identity).
func (s *session) continueGrant() error {
	s.mu.Lock()
	verified, cur := s.verified, s.ident
	s.mu.Unlock()
	if !verified {
		return nil
	}
	id, err := s.g.opts.Identities.Continue(context.Background(), s.info.Origin, cur)
	if err != nil {
		s.g.opts.Logger.Info("session ended: identity grant no longer valid", "session", s.id, "subject", cur.Subject, "err", err)
		s.endRecord(err.Error())
		return proxy.Fatal(&proxy.Error{Code: proxy.CodeInvalidAuthorization, Message: err.Error()})
	}
	if id.Expiry.After(cur.Expiry) {
		s.extendLease(id.Expiry)
	}
	s.setIdentity(id)
	return nil
}

func (s *session) simple(text string) error {
	d := s.decide(text)
	return s.record(text, audit.ProtocolSimple, nil, d, true)
}

// parse decides on a statement when it is prepared; a denied Parse is refused (and the
// proxy discards the rest of the pipeline segment), so it can never be executed.
func (s *session) parse(name, text string) error {
	d := s.decide(text)
	if s.enforce && d.Action == policy.Deny {
		return s.record(text, audit.ProtocolExtended, nil, d, false)
	}
	s.mu.Lock()
	s.prepared[name] = prepared{text: text, decision: d}
	s.mu.Unlock()
	return nil
}

// bind remembers a portal and its parameters for the Execute records; redact keeps only
// their shape (null, format), for values that may be masked data.
func (s *session) bind(m *pgproto3.Bind, redact bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.prepared[m.PreparedStatement]; !ok {
		return unknownStatement(m.PreparedStatement)
	}
	s.portals[m.DestinationPortal] = portal{stmt: m.PreparedStatement, params: parameters(m, s.g.opts.MaxParameterBytes, redact)}
	return nil
}

// execute records the execution of a bound statement before it runs. A portal this
// session did not bind through the guard (a cursor declared in SQL) has no decision, and
// is refused rather than run unjudged.
func (s *session) execute(name string) error {
	s.mu.Lock()
	p, ok := s.portals[name]
	st, known := s.prepared[p.stmt]
	s.mu.Unlock()
	if !ok || !known {
		return unknownStatement(name)
	}
	return s.record(st.text, audit.ProtocolExtended, p.params, st.decision, false)
}

func unknownStatement(name string) *proxy.Error {
	return &proxy.Error{
		Code:    proxy.CodeInsufficientPrivilege,
		Message: fmt.Sprintf("sluice: %q was not prepared and bound through sluice, so it has no decision", name),
	}
}

func (s *session) decide(text string) policy.Decision {
	s.mu.Lock()
	pid, st := s.pid, s.state
	s.mu.Unlock()
	d := s.g.opts.Policy.DecideInSession(context.Background(), pid, st, text)
	s.g.opts.Counter(string(d.Action))
	return d
}

// record appends the statement record (write-ahead: before forwarding) and returns the
// refusal the client gets, if any. A statement a rule sends to review is held until an
// approver decides; the record then carries the approval. An audit log that cannot be
// written refuses the statement: nothing runs unaudited. Audit mode records decisions but
// never blocks or holds.
func (s *session) record(text string, proto audit.Protocol, params []audit.Parameter, d policy.Decision, simple bool) error {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	cl := s.classifiedOf(d.Classification)
	s.mu.Unlock()
	rec := statementRecord(s.id, seq, text, proto, params, d, cl, !s.enforce)
	var refusal *proxy.Error
	switch {
	case !s.enforce:
	case d.Action == policy.Deny:
		refusal = &proxy.Error{Code: proxy.CodeInsufficientPrivilege, Message: denialMessage(d)}
	case d.Action == policy.Review:
		if err := s.review(rec, d); err != nil {
			return err
		}
		if rec.Decision != audit.DecisionAllow {
			refusal = &proxy.Error{Code: proxy.CodeInsufficientPrivilege, Message: rec.Reason}
		}
	}
	if err := s.g.opts.Audit.Append(rec); err != nil {
		s.g.opts.Logger.Error("statement refused: audit log unavailable", "session", s.id, "err", err)
		s.outcomes.push(pending{seq: seq, simple: simple, refused: true})
		return auditUnavailable(err)
	}
	if refusal != nil {
		s.outcomes.push(pending{seq: seq, simple: simple, refused: true})
		return refusal
	}
	for _, w := range d.Warnings {
		s.notice(fmt.Sprintf("sluice: warning from rule %s: %s", w.Rule, w.Message))
	}
	s.outcomes.push(pending{seq: seq, simple: simple, start: time.Now(), classification: d.Classification})
	return nil
}

// Cancel withdraws the statement held for approval, if any: the client's CancelRequest.
func (s *session) Cancel() {
	s.mu.Lock()
	withdraw := s.withdraw
	s.mu.Unlock()
	if withdraw != nil {
		withdraw()
	}
}

// ServerMessage masks results (when the session masks) and completes outcomes. A result
// masking cannot handle ends the session: it must not reach the client.
func (s *session) ServerMessage(msg pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	var out pgproto3.BackendMessage
	if s.ms != nil {
		r, err := s.ms.ServerMessage(msg)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out, msg = r, r
		}
	}
	switch msg.(type) {
	case *pgproto3.DataRow, *pgproto3.CopyData:
		return out, nil // rows (shown only for masking) say nothing about outcomes
	}
	done, full := s.outcomes.server(msg, s.id)
	if done != nil {
		s.mu.Lock()
		s.state.Observe(done)
		s.mu.Unlock()
	}
	if full {
		s.outcomes.flush()
	}
	return out, nil
}

// ServerIdle records the outcomes completed since the last call: the relay calls it once
// the client has the answers they describe.
func (s *session) ServerIdle() { s.outcomes.flush() }

// Close records the session's end and removes it from the live table.
func (s *session) Close(err error) {
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	s.endRecord(reason)
	s.g.closed(s.info.ID)
}
