package roles

// Why the agent runs a statement for an ephemeral role (Statement.Reason).
const (
	ReasonSessionStart = "session start"
	ReasonSessionEnd   = "session end"
	ReasonExpiry       = "token expiry"
	ReasonRefresh      = "token refresh"
	ReasonCleanup      = "start-up clean-up"
)

// Statement is one statement the agent runs on a target's server to manage ephemeral
// roles. These are the agent's own actions, on its admin login, not a workload's: the agent
// records them as such (an audit.AgentAction with Actor "agent", Action "admin_statement").
//
// Audit is called before a statement runs. Its error stops a statement that grants access
// (creating or extending a role): the session is refused rather than given a role nobody
// recorded. It does not stop the statements that take access away (terminating sessions,
// dropping a role), which run anyway: keeping a role alive because the log is down would be
// worse. When a statement fails, Audit is called a second time with Err set.
type Statement struct {
	// Target is the name of the target whose server runs the statement.
	Target string
	// Text is the statement as run, except that the password verifier is shown as '***'.
	// Parameters ($1) are in Args.
	Text string
	Args []string
	// Role is the ephemeral role the statement concerns; empty for the clean-up listing.
	Role string
	// Reason is why it runs: ReasonSessionStart, ReasonSessionEnd, ReasonExpiry,
	// ReasonRefresh or ReasonCleanup.
	Reason string
	// Session is the audit id of the session the role serves; empty in the clean-up.
	Session string
	// Err is nil when reported before the statement runs, and the failure in the second
	// report of a statement that failed.
	Err error
}
