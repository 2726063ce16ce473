package policy

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// Action is what happens to a statement.
type Action string

// The actions, from least to most restrictive.
const (
	// Allow runs the statement.
	Allow Action = "allow"
	// Warn runs the statement and sends the client a NoticeResponse with the warnings.
	Warn Action = "warn"
	// Review holds the statement until a human approves it (bound to the fingerprint).
	Review Action = "review"
	// Deny refuses the statement with SQLSTATE 42501 naming the rule.
	Deny Action = "deny"
)

func parseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Allow, Warn, Review, Deny:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q (want allow, warn, review or deny)", s)
}

func (a Action) severity() int {
	switch a {
	case Deny:
		return 3
	case Review:
		return 2
	case Warn:
		return 1
	}
	return 0
}

// Names of decisions that no rule of the rule set made.
const (
	// RuleDefault: no rule matched; the rule set's default action applied.
	RuleDefault = "default"
	// RuleEmpty: the query string holds no statement.
	RuleEmpty = "empty"
	// RuleUTF8Only: a client encoding other than UTF-8 was requested (or could be, through
	// a computed setting name). Masking and scrubbing read results as UTF-8, so this holds
	// whatever the rules say.
	RuleUTF8Only = "builtin/utf8-only"
	// RuleParseError: the text was not parsed (syntax error, refused, or the parser failed)
	// and no rule explicitly allowed that.
	RuleParseError = "builtin/parse-error"
	// RuleStartupOptions: the startup "options" parameter held something other than
	// -c name=value settings.
	RuleStartupOptions = "builtin/startup-options"
)

// Warning is a warn rule that matched a statement that was then allowed or held.
type Warning struct {
	Rule    string
	Message string
}

// Decision is the verdict on one query string (or startup packet, or FunctionCall).
type Decision struct {
	Action Action
	// Rule names the rule that decided: the client sees it in the error; so does the audit
	// log. Built-in decisions are named builtin/...; "default" means no rule matched.
	Rule string
	// Message is the rule's message for the client.
	Message string
	// Warnings from warn rules, for a NoticeResponse when the statement runs or is held.
	Warnings []Warning
	// Statement is the index of the statement that decided, -1 if none did.
	Statement int
	// Fingerprint is pg_query's fingerprint of the query string: approvals bind to it.
	Fingerprint string
	// Classification is what the rules saw. Shared between cached decisions: read only.
	Classification *classify.Classification
}

// String summarises a decision for logs.
func (d Decision) String() string {
	return fmt.Sprintf("%s by %s", d.Action, d.Rule)
}
