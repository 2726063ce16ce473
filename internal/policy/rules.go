package policy

import (
	"path"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// RuleSet is a loaded, validated policy: ordered rules and the action when none decides.
// It is immutable; reloading builds a new one.
type RuleSet struct {
	// Source names where the rules came from, for logs.
	Source  string
	Default Action
	Rules   []Rule
	// SearchPath is the schema list unqualified names resolve through (PostgreSQL also
	// searches pg_catalog first). It must match the database's search_path for the agent's
	// login role; the default pack denies changing it, so it stays true for the session.
	SearchPath []string
}

// Rule is one compiled rule.
type Rule struct {
	Name    string
	Action  Action
	Message string
	Match   Matcher
}

// Matcher holds a rule's conditions. Every condition given must hold; an empty one holds
// for everything. Lists are alternatives, but how a list meets a statement with many
// objects (functions, settings) depends on the rule's action, so that an ordering mistake
// can never widen what is allowed:
//
//   - deny, review and warn rules match if ANY object (function, setting, class) of the
//     statement matches; an unqualified name matches if it could resolve to a matching
//     schema (pg_catalog or any schema of the search path), and a setting whose name is
//     unknown matches any settings pattern;
//   - allow rules match only if the statement has at least one object (function, setting)
//     and ALL of them match, its classes are all listed, an unqualified name matches only
//     if every schema of the search path matches, and unknown setting names only "*".
//     An allow rule must also name every hazard flag the statement carries.
type Matcher struct {
	Issuers   []string
	Subjects  []string
	Groups    []string
	Classes   classify.Class
	Commands  []string // upper case
	Objects   []string
	Actions   []classify.Action
	Functions []string
	Flags     classify.Flag
	Settings  []string
	MinLock   classify.Lock
}

// matches reports whether the rule applies to a statement whose flags (after session
// adjustments) are flags.
func (r *Rule) matches(id *Identity, st *classify.Statement, flags classify.Flag, searchPath []string) bool {
	m := &r.Match
	allow := r.Action == Allow
	if !m.identity(id) {
		return false
	}
	if allow && flags&classify.Hazards&^m.Flags != 0 {
		return false
	}
	if m.Flags != 0 && flags&m.Flags == 0 {
		return false
	}
	if m.Classes != 0 {
		if allow && st.Classes&^m.Classes != 0 {
			return false
		}
		if st.Classes&m.Classes == 0 {
			return false
		}
	}
	if len(m.Commands) > 0 && !anyGlob(m.Commands, st.Command) {
		return false
	}
	if m.MinLock != 0 && st.Lock < m.MinLock {
		return false
	}
	if (len(m.Objects) > 0 || len(m.Actions) > 0) && !quantify(allow, st.Objects, m.object(allow, searchPath)) {
		return false
	}
	if len(m.Functions) > 0 && !quantify(allow, st.Functions, func(f classify.Function) bool {
		return anyQualified(m.Functions, f.Schema, f.Name, allow, resolution(searchPath, true, f.Name))
	}) {
		return false
	}
	if len(m.Settings) > 0 && !quantify(allow, st.Settings, func(s classify.Setting) bool {
		return m.setting(s, allow)
	}) {
		return false
	}
	return true
}

func (m *Matcher) identity(id *Identity) bool {
	if len(m.Issuers) > 0 && !anyGlob(m.Issuers, id.Issuer) {
		return false
	}
	if len(m.Subjects) > 0 && !anyGlob(m.Subjects, id.Subject) {
		return false
	}
	if len(m.Groups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return anyGlob(m.Groups, g) }) {
		return false
	}
	return true
}

func (m *Matcher) object(allow bool, searchPath []string) func(classify.Object) bool {
	return func(o classify.Object) bool {
		if len(m.Actions) > 0 && !slices.Contains(m.Actions, o.Action) {
			return false
		}
		return len(m.Objects) == 0 || anyQualified(m.Objects, o.Schema, o.Name, allow, resolution(searchPath, false, o.Name))
	}
}

// setting matches "name" and "name=value" patterns; values compare case-insensitively and
// only when known.
func (m *Matcher) setting(s classify.Setting, allow bool) bool {
	if s.Name == "" {
		return !allow || slices.Contains(m.Settings, "*")
	}
	for _, p := range m.Settings {
		pn, pv, hasValue := strings.Cut(p, "=")
		if ok, _ := path.Match(pn, s.Name); !ok {
			continue
		}
		if !hasValue {
			return true
		}
		if ok, _ := path.Match(pv, strings.ToLower(s.Value)); ok && s.Known {
			return true
		}
	}
	return false
}

// quantify is "any" for deny-side rules and "non-empty and all" for allow rules.
func quantify[T any](allow bool, items []T, pred func(T) bool) bool {
	if !allow {
		return slices.ContainsFunc(items, pred)
	}
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		if !pred(it) {
			return false
		}
	}
	return true
}

func anyGlob(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// resolution lists the schemas an unqualified name may resolve to. PostgreSQL searches
// pg_catalog before the search path; every built-in function lives there, but the only
// relations there are the system catalogs, all named pg_*.
func resolution(searchPath []string, function bool, name string) []string {
	if function || strings.HasPrefix(name, "pg_") {
		return append([]string{"pg_catalog"}, searchPath...)
	}
	return searchPath
}

// anyQualified matches schema-qualified patterns. A pattern without a dot matches the name
// in any schema. A name written without schema resolves at run time to one of candidates,
// which one the policy cannot know: deny-side rules match if it could resolve to a
// matching schema, allow rules only if every schema it could resolve to is allowed.
func anyQualified(patterns []string, schema, name string, allow bool, candidates []string) bool {
	for _, p := range patterns {
		ps, pn, qualified := strings.Cut(p, ".")
		if !qualified {
			pn = ps
		}
		if ok, _ := path.Match(pn, name); !ok {
			continue
		}
		matchSchema := func(s string) bool {
			ok, _ := path.Match(ps, s)
			return ok
		}
		switch {
		case !qualified:
			return true
		case schema != "":
			if matchSchema(schema) {
				return true
			}
		case allow:
			if len(candidates) > 0 && !slices.ContainsFunc(candidates, func(s string) bool { return !matchSchema(s) }) {
				return true
			}
		default:
			if slices.ContainsFunc(candidates, matchSchema) {
				return true
			}
		}
	}
	return false
}
