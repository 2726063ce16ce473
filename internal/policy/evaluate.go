package policy

import (
	"strings"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// verdict is the decision on one statement.
type verdict struct {
	action   Action
	rule     string
	message  string
	warnings []Warning
}

// decide applies the rules to every statement and keeps the most restrictive verdict: a
// query string runs only if each of its statements may. mask clears flags the session has
// made moot. fallback is the action when no rule decides a statement.
func (rs *RuleSet) decide(id *Identity, c *classify.Classification, mask classify.Flag, fallback Action) Decision {
	d := Decision{Action: Allow, Rule: RuleEmpty, Statement: -1, Fingerprint: c.Fingerprint, Classification: c}
	for i := range c.Statements {
		v := rs.decideStatement(id, &c.Statements[i], c.Statements[i].Flags&mask, fallback)
		d.Warnings = append(d.Warnings, v.warnings...)
		if d.Statement < 0 || v.action.severity() > d.Action.severity() {
			d.Action, d.Rule, d.Message, d.Statement = v.action, v.rule, v.message, i
		}
	}
	if d.Action == Allow && len(d.Warnings) > 0 {
		d.Action = Warn
	}
	return d
}

func (rs *RuleSet) decideStatement(id *Identity, st *classify.Statement, flags classify.Flag, fallback Action) verdict {
	if v, ok := encodingCheck(st); ok {
		return v
	}
	var warnings []Warning
	for i := range rs.Rules {
		r := &rs.Rules[i]
		if !r.matches(id, st, flags, rs.SearchPath) {
			continue
		}
		if r.Action == Warn {
			warnings = append(warnings, Warning{Rule: r.Name, Message: r.Message})
			continue
		}
		return verdict{action: r.Action, rule: r.Name, message: r.Message, warnings: warnings}
	}
	if h := flags & classify.Hazards; h != 0 {
		name := h.Names()[0]
		return verdict{action: Deny, rule: "builtin/" + strings.ReplaceAll(name, "_", "-"),
			message: hazardMessages[name], warnings: warnings}
	}
	return verdict{action: fallback, rule: RuleDefault, warnings: warnings}
}

var hazardMessages = map[string]string{
	"parse_error":           "the statement could not be parsed safely",
	"unknown_node":          "the statement contains a construct the classifier has not reviewed",
	"opaque_code":           "the statement defines or runs code whose effect cannot be inspected",
	"dynamic_sql":           "the statement passes SQL or object names as text to a function that executes them",
	"function_call_message": "FunctionCall messages name functions by OID only and cannot be inspected",
}

// encodingCheck enforces UTF-8 as the client encoding, ahead of every rule.
func encodingCheck(st *classify.Statement) (verdict, bool) {
	for _, s := range st.Settings {
		switch {
		case s.Name == "":
			return verdict{action: Deny, rule: RuleUTF8Only,
				message: "a setting whose name is computed could change the client encoding"}, true
		case s.Name == "client_encoding" && !(s.Known && isUTF8(s.Value)):
			return verdict{action: Deny, rule: RuleUTF8Only, message: "only the UTF8 client encoding is allowed"}, true
		}
	}
	return verdict{}, false
}

// isUTF8 follows PostgreSQL's encoding-name matching: case and punctuation are ignored, and
// UNICODE is an alias of UTF8.
func isUTF8(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String() == "utf8" || b.String() == "unicode"
}
