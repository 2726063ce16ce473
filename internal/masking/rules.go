package masking

import (
	"path"
	"strings"

	"github.com/sluicehq/sluice/internal/masking/detect"
	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// StrategyKind is how a rule masks a value.
type StrategyKind string

// The strategies. Each keeps values valid for their column's type; masking.md lists the
// types each supports.
const (
	// Redact replaces the value by NULL, or by a fixed value the server reads as the
	// column's type.
	Redact StrategyKind = "redact"
	// Partial keeps the first and last few characters (digits for numbers) and masks the
	// rest.
	Partial StrategyKind = "partial"
	// Hash replaces the value by a keyed HMAC-SHA-256 of it: deterministic, so equal
	// values stay equal (joins and GROUP BY still work), but not reversible without the
	// node's key.
	Hash StrategyKind = "hash"
	// Email masks an address's local part and keeps its domain.
	Email StrategyKind = "email"
	// Detect masks what the content detectors find in the value and keeps the rest.
	Detect StrategyKind = "detect"
)

// Fallback is what happens to a result column computed from a masked column, which has no
// origin to mask it by.
type Fallback string

// The fallbacks.
const (
	// FallbackDeny refuses the statement (the default).
	FallbackDeny Fallback = "deny"
	// FallbackDetect lets it run and masks such columns by content.
	FallbackDetect Fallback = "detect"
)

// Rule masks the columns it matches for every identity not in its clear groups.
type Rule struct {
	Name string
	// Columns are schema.table.column glob patterns (each part matched separately, so *
	// never spans a dot); a rule's tags add their patterns here.
	Columns []string
	// Strategy and its parameters.
	Strategy  StrategyKind
	KeepFirst int
	KeepLast  int
	// Value is redact's fixed value; nil means NULL.
	Value *string
	// Clear are glob patterns of identity groups that see the values unmasked.
	Clear []string
	// Fallback for computed columns; deny by default.
	Fallback Fallback
	// DenyPredicates refuses statements that filter, join, group or sort on the columns
	// (otherwise they are allowed and reported as inference risks).
	DenyPredicates bool
	// AllowCopies lets statements store the values where they would be readable unmasked
	// (INSERT ... SELECT, CREATE TABLE AS, ...); refused by default.
	AllowCopies bool
	// Line is where the rule is defined, for messages.
	Line int
}

// matches reports whether the rule masks schema.table.column.
func (r *Rule) matches(schema, table, column string) bool {
	for _, p := range r.Columns {
		if matchColumn(p, schema, table, column) {
			return true
		}
	}
	return false
}

func matchColumn(pattern, schema, table, column string) bool {
	parts := strings.SplitN(pattern, ".", 3)
	if len(parts) != 3 {
		return false
	}
	for i, name := range [3]string{schema, table, column} {
		if ok, _ := path.Match(parts[i], name); !ok {
			return false
		}
	}
	return true
}

// clears reports whether a member of the groups sees the rule's columns in clear.
func (r *Rule) clears(groups []string) bool {
	for _, p := range r.Clear {
		for _, g := range groups {
			if ok, _ := path.Match(p, g); ok {
				return true
			}
		}
	}
	return false
}

// RuleSet is a loaded masking configuration.
type RuleSet struct {
	// Source names where the rules came from (a file name), for logs.
	Source string
	Rules  []*Rule
	// Unattributed: mask by content the text result columns that have no origin at all
	// and derive from no masked column as far as lineage can see (function results, for
	// example), because opaque code can still read masked tables.
	Unattributed bool
	// Detectors are the content detectors used for Detect, fallbacks, unattributed
	// columns and free text (errors, notices, notifications).
	Detectors []detect.Kind
}

// builtinStatistics masks the statistics the server keeps about every column's values:
// ANALYZE stores most common values and histogram bounds, readable by the table's owner
// through pg_statistic and the pg_stats views, masked columns' values among them.
var builtinStatistics = Rule{
	Name:     "builtin/statistics",
	Columns:  []string{"pg_catalog.pg_statistic.stavalues*", "pg_catalog.pg_statistic_ext_data.stxd*"},
	Strategy: Redact,
	Fallback: FallbackDeny,
}

// columnRules returns the rules masking schema.table.column.
func (rs *RuleSet) columnRules(schema, table, column string) lineage.Set {
	var s lineage.Set
	for i, r := range rs.Rules {
		if r.matches(schema, table, column) {
			s.Add(i)
		}
	}
	return s
}

// cleared returns the rules whose clear groups include one of groups.
func (rs *RuleSet) cleared(groups []string) lineage.Set {
	var s lineage.Set
	for i, r := range rs.Rules {
		if r.clears(groups) {
			s.Add(i)
		}
	}
	return s
}

// any reports whether some rule of the set satisfies f.
func (rs *RuleSet) any(s lineage.Set, f func(*Rule) bool) bool {
	found := false
	s.Each(func(i int) { found = found || f(rs.Rules[i]) })
	return found
}
