package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// Event is what callers append: one of *SessionStart, *Statement, *Outcome, *SessionEnd or
// *AgentAction. The set is closed (the methods are unexported) because checkpoints, segment
// headers and log-open records are written by the log itself and must not be forgeable
// through Append.
type Event interface {
	recordType() Type
	attach(*Record)
	validate() error
}

// SessionStart records who opened a session and from where, once per client connection,
// before the upstream connection is used. Every later record of the session refers to it
// by Session, so the verified identity and the kernel's attribution are written once.
type SessionStart struct {
	// Session identifies the session in this log. It must be unique across agent restarts
	// (the proxy's per-process counter alone is not), e.g. the agent's start time and a
	// counter, because `sluice audit show --session` selects by it.
	Session string `json:"session"`
	// Mode is the enforcement mode the session runs under: "enforce" or "audit". In
	// "audit" statements are recorded with their decision but never blocked.
	Mode string `json:"mode,omitempty"`
	// Identity is the OIDC-verified workload identity; nil when none was found (possible
	// only in audit mode: enforce refuses such sessions).
	Identity *Identity `json:"identity,omitempty"`
	// Cgroup is the cgroup of the process that called connect(), from the kernel.
	Cgroup Cgroup `json:"cgroup"`
	// Workload is what the cgroup path says about the container or pod, when it says.
	Workload Workload `json:"workload,omitzero"`
	// Process is the connecting process, from the kernel's origin record and /proc.
	Process Process `json:"process"`
	// Client is the connection's remote address as the proxy saw it.
	Client netip.AddrPort `json:"client,omitzero"`
	// Destination is the address the client meant to reach before the redirect.
	Destination netip.AddrPort `json:"destination,omitzero"`
	// Target is the name of the configured database target that was selected.
	Target string `json:"target,omitempty"`
	// User and Database are the names from the client's startup packet.
	User     string `json:"user,omitempty"`
	Database string `json:"database,omitempty"`
	// DatabaseUser is the login the session runs as upstream when it was chosen for the
	// identity (an ephemeral role for this session alone, or a mapped least-privileged
	// user); DatabaseRole the role that login maps to. Empty: the target's own user.
	DatabaseUser string `json:"database_user,omitempty"`
	DatabaseRole string `json:"database_role,omitempty"`
	// ApplicationName is the client's application_name startup parameter (client-chosen,
	// recorded because operators search by it, never trusted).
	ApplicationName string `json:"application_name,omitempty"`
	// TLS tells whether the client connection was encrypted.
	TLS bool `json:"tls"`
}

// MarshalJSON encodes the session start by encoding/json's rules, because its omitzero
// fields are unknown to the writer's faster encoder (TestEncoderMatchesStdlib); a session
// start is written once per session, off the statement path.
func (s *SessionStart) MarshalJSON() ([]byte, error) {
	type plain SessionStart // without this method
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(s)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// Identity is a verified workload identity as it appears in the log.
type Identity struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups,omitempty"`
}

// Cgroup names a cgroup both ways: the path for people, the id because paths are reused
// after a cgroup is removed while ids are not.
type Cgroup struct {
	Path string `json:"path"`
	ID   uint64 `json:"id"`
}

// Workload is the container and pod a cgroup belongs to, as parsed from its path.
type Workload struct {
	Container string `json:"container,omitempty"`
	Pod       string `json:"pod,omitempty"`
}

// Process describes the process that opened the connection.
type Process struct {
	PID  uint32 `json:"pid"`
	UID  uint32 `json:"uid"`
	Name string `json:"name,omitempty"`
	Exe  string `json:"exe,omitempty"`
}

// Protocol tells how a statement arrived, because the extended protocol carries parameters
// separately from the text.
type Protocol string

// The protocols a statement can arrive by.
const (
	ProtocolSimple   Protocol = "simple"
	ProtocolExtended Protocol = "extended"
)

// Decision is what the guardrails decided for a statement.
type Decision string

// The decisions. In a session whose Mode is "audit" the statement is forwarded whatever
// the decision; Statement.AuditOnly records that.
const (
	DecisionAllow  Decision = "allow"
	DecisionDeny   Decision = "deny"
	DecisionReview Decision = "review"
)

// The statement classes, as pgaudit names them, so existing pgaudit dashboards and
// queries carry over.
const (
	ClassRead     = "READ"
	ClassWrite    = "WRITE"
	ClassFunction = "FUNCTION"
	ClassRole     = "ROLE"
	ClassDDL      = "DDL"
	ClassMisc     = "MISC"
	ClassMiscSet  = "MISC_SET"
)

// Statement records one statement attempt. The proxy appends it before forwarding the
// statement (or answering a denial) and refuses the statement if the append fails: this
// record is the write-ahead part of the log.
type Statement struct {
	// Session is the SessionStart.Session this statement belongs to.
	Session string `json:"session"`
	// Seq numbers the statements of one session from 1; the Outcome refers to it.
	Seq uint64 `json:"seq"`
	// Protocol is how the statement arrived.
	Protocol Protocol `json:"protocol,omitempty"`
	// Text is the statement text as the client sent it.
	Text string `json:"text"`
	// Fingerprint identifies the statement's shape independent of literals, so a
	// reviewer can group attempts and approvals can bind to it.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Class is the pgaudit class (ClassRead, ...) and Command the command tag name
	// (SELECT, INSERT, CREATE TABLE, ...).
	Class   string `json:"class,omitempty"`
	Command string `json:"command,omitempty"`
	// Objects are the relations and other objects the statement references.
	Objects []Object `json:"objects,omitempty"`
	// Parameters are the extended-protocol parameter values, in order.
	Parameters []Parameter `json:"parameters,omitempty"`
	// Decision and Rule say what the guardrails decided and which rule decided it.
	Decision Decision `json:"decision"`
	Rule     string   `json:"rule,omitempty"`
	// Reason is the message a denied client received.
	Reason string `json:"reason,omitempty"`
	// AuditOnly is true when the session's mode is "audit": the statement was forwarded
	// whatever Decision says.
	AuditOnly bool `json:"audit_only,omitempty"`
	// Approval is set when a held statement was approved.
	Approval *Approval `json:"approval,omitempty"`
}

// Object is one object a statement references, e.g. {"table", "public.users"}.
type Object struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// Parameter is one extended-protocol parameter value. A value bound to a masked column is
// recorded as Redacted with no Value: the audit log must not become the place where masked
// data can be read.
type Parameter struct {
	// Value is the text-format value, or the base64 of a binary-format value.
	Value string `json:"value,omitempty"`
	// Null is true for an SQL NULL.
	Null bool `json:"null,omitempty"`
	// Binary is true when the client sent the value in binary format.
	Binary bool `json:"binary,omitempty"`
	// Redacted is true when the value was withheld because it is masked data.
	Redacted bool `json:"redacted,omitempty"`
	// Size and SHA256 describe a value longer than the writer's cap (the guard's
	// MaxParameterBytes): Value then holds only its first bytes, and the hash of the
	// whole value (as sent, before any base64) still lets an auditor match it. A 64 MiB
	// bytea bound once must not become a 90 MB record on the statement's path.
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// Approval names who let a held statement through, so the approver is accountable in the
// same tamper-evident record as the statement.
type Approval struct {
	ID       string `json:"id"`
	Approver string `json:"approver"`
}

// Outcome completes a Statement once its result is known (or it failed). It is appended
// after the fact and is not write-ahead; a Statement without an Outcome means the session
// or the agent ended before the result was seen.
type Outcome struct {
	// Session and Seq identify the Statement this outcome completes.
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
	// Duration is from forwarding the statement to its completion.
	Duration Nanos `json:"duration_ns"`
	// Tag is the command tag the server returned (e.g. "INSERT 0 1").
	Tag string `json:"tag,omitempty"`
	// Rows is the number of rows returned or affected.
	Rows int64 `json:"rows"`
	// SQLState and Error are set when the statement failed (Error is the message after
	// masking scrubbed it).
	SQLState string `json:"sqlstate,omitempty"`
	Error    string `json:"error,omitempty"`
	// Bytes is the size of the result sent to the client.
	Bytes int64 `json:"bytes"`
	// MaskedCells counts the result values that masking rewrote.
	MaskedCells int64 `json:"masked_cells"`
}

// SessionEnd records the end of a session, so a reader knows no more statements follow.
type SessionEnd struct {
	Session string `json:"session"`
	// Duration is how long the session lasted.
	Duration Nanos `json:"duration_ns"`
	// Statements is how many statements the session attempted.
	Statements uint64 `json:"statements"`
	// Error is why the session ended, empty when the client ended it with Terminate.
	Error string `json:"error,omitempty"`
}

// AgentAction records something the agent or an operator did rather than a workload: a
// mode change, an approval, a policy reload, the agent's own administrative statements.
// Operator actions belong in the same chain as the statements they affect.
type AgentAction struct {
	// Actor is who acted: "agent" for the agent itself, or the operator as the control
	// API identified them (e.g. "uid:0", or a verified identity).
	Actor string `json:"actor"`
	// Action names what was done, e.g. "set_mode", "approve", "admin_statement".
	Action string `json:"action"`
	// Text is the statement the agent ran, for admin statements.
	Text string `json:"text,omitempty"`
	// Details holds action-specific fields (e.g. "cgroup", "mode").
	Details map[string]string `json:"details,omitempty"`
	// Error is set when the action failed.
	Error string `json:"error,omitempty"`
}

func (*SessionStart) recordType() Type { return TypeSessionStart }
func (*Statement) recordType() Type    { return TypeStatement }
func (*Outcome) recordType() Type      { return TypeOutcome }
func (*SessionEnd) recordType() Type   { return TypeSessionEnd }
func (*AgentAction) recordType() Type  { return TypeAgentAction }

func (e *SessionStart) attach(r *Record) { r.SessionStart = e }
func (e *Statement) attach(r *Record)    { r.Statement = e }
func (e *Outcome) attach(r *Record)      { r.Outcome = e }
func (e *SessionEnd) attach(r *Record)   { r.SessionEnd = e }
func (e *AgentAction) attach(r *Record)  { r.AgentAction = e }

// errNilEvent is returned for a typed nil event, which would otherwise panic the caller.
var errNilEvent = fmt.Errorf("%w: nil event", ErrInvalid)

func (e *SessionStart) validate() error {
	if e == nil {
		return errNilEvent
	}
	return needSession(e.Session)
}

func (e *Statement) validate() error {
	if e == nil {
		return errNilEvent
	}
	if err := needSession(e.Session); err != nil {
		return err
	}
	switch e.Decision {
	case DecisionAllow, DecisionDeny, DecisionReview:
	default:
		return fmt.Errorf("%w: statement decision %q is not allow, deny or review", ErrInvalid, e.Decision)
	}
	for i, p := range e.Parameters {
		if p.Redacted && (p.Value != "" || p.Null) {
			return fmt.Errorf("%w: statement parameter $%d is redacted but carries a value", ErrInvalid, i+1)
		}
	}
	return nil
}

func (e *Outcome) validate() error {
	if e == nil {
		return errNilEvent
	}
	return needSession(e.Session)
}

func (e *SessionEnd) validate() error {
	if e == nil {
		return errNilEvent
	}
	return needSession(e.Session)
}

func (e *AgentAction) validate() error {
	if e == nil {
		return errNilEvent
	}
	if e.Actor == "" || e.Action == "" {
		return fmt.Errorf("%w: agent action needs an actor and an action", ErrInvalid)
	}
	return nil
}

func needSession(s string) error {
	if s == "" {
		return fmt.Errorf("%w: session id is empty", ErrInvalid)
	}
	return nil
}

// Nanos is a duration as the log writes it (the _ns fields): integer nanoseconds, which is
// how encoding/json writes a time.Duration and what every reader expects. It is not a
// time.Duration because the writer's faster encoder would write that as text
// (TestEncoderMatchesStdlib).
type Nanos time.Duration

// String formats n like a time.Duration, for the human-readable views.
func (n Nanos) String() string { return time.Duration(n).String() }
