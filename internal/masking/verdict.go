package masking

import "strings"

// Verdict is masking's decision on a client message, for the caller to enforce and
// record before the message is forwarded.
type Verdict struct {
	// Deny refuses the message: the client gets SQLSTATE 42501 with Reason.
	Deny bool
	// Rule names the masking rule (or builtin/... check) that decided a denial.
	Rule string
	// Reason is the message for the client.
	Reason string
	// Masked names the rules whose columns the statement's results will have masked.
	Masked []string
	// Risks describe inference risks the statement was allowed with: filtering, joining,
	// grouping or sorting on masked columns lets a client learn about values it cannot see.
	Risks []string
	// Sensitive is set on a Bind whose statement touches columns masked for this
	// identity: its parameter values may be masked data (a value compared with, or
	// written to, such a column), so the audit record must not keep them.
	Sensitive bool

	pending *pending // what Sent records
}

func (v *Verdict) deny(rule, reason string) {
	if !v.Deny {
		v.Deny, v.Rule, v.Reason = true, rule, "sluice: "+reason
	}
}

// merge folds a later statement's verdict into v: the first denial stands.
func (v *Verdict) merge(o Verdict) {
	if o.Deny {
		v.deny(o.Rule, strings.TrimPrefix(o.Reason, "sluice: "))
	}
	v.Masked = appendNew(v.Masked, o.Masked...)
	v.Risks = appendNew(v.Risks, o.Risks...)
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			found = found || l == it
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}
