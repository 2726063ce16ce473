package masking

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/sluicehq/sluice/internal/masking/lineage"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/sqlshape"
)

// queryPlan is masking's decision on one query string for one set of cleared rules, and what
// its results need: one stmtPlan per statement.
type queryPlan struct {
	Verdict
	stmts []*stmtPlan
}

// stmtPlan is what the result direction needs to know of one statement.
type stmtPlan struct {
	st  *engineState // the rules the plan was made under
	res *lineage.Result
	// detect: a result column is computed from masked columns under a detect fallback,
	// so every column not masked by its origin is masked by content.
	detect bool
	// sensitive: the statement reads relations with masked columns; errors and notices
	// it causes are scrubbed of quoted values and details.
	sensitive bool
	// copyOut masks the rows of COPY TO STDOUT, column by column.
	copyOut []copyColumn
}

// copyColumn is how COPY TO STDOUT masks one column: by a rule's strategy, by content, or
// not at all.
type copyColumn struct {
	rule   *Rule
	detect bool
	typ    uint32
	typmod int32
}

// unknownPlan stands for a statement whose results masking did not see planned: a FETCH
// from a cursor opened by a function, say. Every column without a masked origin is masked
// by content, and errors are scrubbed strictly.
var unknownPlan = &stmtPlan{res: &lineage.Result{Kind: lineage.KindQuery}, detect: true, sensitive: true}

// plan decides on a query string, from the cache when possible: by its text, or by its
// shape when the statement differs from one planned before only in integer constants
// (internal/sqlshape), which a client inlining its literals sends every time.
func (e *Engine) plan(ctx context.Context, st *engineState, t *targetState, sql string, cleared lineage.Set) *queryPlan {
	if len(st.rules.Rules) == 0 {
		return &queryPlan{}
	}
	key := planKey{sql: sql, cleared: cleared, gen: t.res.cat.Generation()}
	cacheable := len(sql) <= e.opts.MaxCachedBytes
	shapeKey := key
	var ints []sqlshape.Int
	shaped := false
	if cacheable {
		if p, ok := t.plans.Get(key); ok {
			return p
		}
		if shapeKey.sql, ints, shaped = sqlshape.Of(sql); shaped {
			shapeKey.shape = true
			if p, ok := t.plans.Get(shapeKey); ok {
				return p
			}
		}
	}
	p, stable, valueFree := e.planText(ctx, st, t, sql, cleared, ints)
	switch {
	case !cacheable || !stable:
	case shaped && valueFree:
		t.plans.Add(shapeKey, p)
	default:
		t.plans.Add(key, p)
	}
	return p
}

// planText plans a query string; stable is false for failures that may not recur, and
// valueFree says the plan holds for every text of the same shape: the integers ints (of
// sqlshape.Of) are all constant values in the tree and no analysis read one.
func (e *Engine) planText(ctx context.Context, st *engineState, t *targetState, sql string, cleared lineage.Set, ints []sqlshape.Int) (p *queryPlan, stable, valueFree bool) {
	p = &queryPlan{}
	parsed, err := e.opts.Parser.Parse(ctx, sql)
	if err != nil {
		var se *sqlparse.SyntaxError
		p.deny("builtin/not-understood", "masking cannot follow a statement it could not parse: "+err.Error())
		return p, errors.As(err, &se), false
	}
	valueFree = sqlshape.Holds(ints, parsed.Tree)
	stable = true
	for _, raw := range parsed.Tree.GetStmts() {
		res, err := lineage.Analyze(ctx, t.res, raw.GetStmt())
		if err != nil {
			e.opts.Logger.Warn("masking: catalog lookup failed; statement refused", "err", err)
			p.deny("builtin/catalog-unavailable", "masking could not look up the tables the statement uses: "+err.Error())
			return p, false, false
		}
		sp, v := st.decide(ctx, t.res, res, cleared)
		p.stmts = append(p.stmts, sp)
		p.merge(v)
		stable = stable && !res.Unresolved
		valueFree = valueFree && !res.Positional
	}
	return p, stable, valueFree
}

// decide applies the rules to one statement's lineage for an identity that sees the
// cleared rules in clear.
func (st *engineState) decide(ctx context.Context, r *resolver, res *lineage.Result, cleared lineage.Set) (*stmtPlan, Verdict) {
	rs := st.rules
	var v Verdict
	sp := &stmtPlan{st: st, res: res, sensitive: !res.Reads.Without(cleared).Clean()}
	if len(res.Refusals) > 0 {
		v.deny("builtin/unfollowable", "masking cannot follow this statement: "+res.Refusals[0])
	}
	if !res.Moves.Clean() {
		rule := rs.Rules[res.Moves.All().First()]
		v.deny(rule.Name, fmt.Sprintf("masking rule %s: the statement renames or moves a relation or column it masks, which would take the column out of the rule's reach", rule.Name))
	}
	for _, schema := range res.MovesSchema {
		for _, rule := range rs.Rules {
			for _, p := range rule.Columns {
				if ok, _ := path.Match(strings.SplitN(p, ".", 2)[0], schema); ok {
					v.deny(rule.Name, fmt.Sprintf("masking rule %s: the statement renames schema %s, which holds columns the rule masks by name", rule.Name, schema))
				}
			}
		}
	}
	st.decideCopies(res, &v)
	st.decideOutputs(ctx, r, res, cleared, sp, &v)
	pred := res.Predicates.Without(cleared).All()
	pred.Each(func(i int) {
		rule := rs.Rules[i]
		if rule.DenyPredicates {
			v.deny(rule.Name, fmt.Sprintf("masking rule %s: the statement filters, joins, groups or sorts on columns the rule masks", rule.Name))
		}
		v.Risks = appendNew(v.Risks, fmt.Sprintf("filters, joins, groups or sorts on columns masked by rule %s", rule.Name))
	})
	if res.Kind == lineage.KindCopyOut {
		st.decideCopyOut(res, cleared, sp, &v)
	}
	return sp, v
}

// decideCopies refuses storing masked values where they would be readable unmasked: into
// a column no rule at least as strict masks, into a view (whose definition the catalog
// cannot see until it is committed), or out of the database. Clearance does not matter:
// what is stored is read later by others.
func (st *engineState) decideCopies(res *lineage.Result, v *Verdict) {
	rs := st.rules
	for _, c := range res.Copies {
		src := c.Source.All()
		if src.Empty() || !rs.any(src, func(r *Rule) bool { return !r.AllowCopies }) {
			continue
		}
		first := rs.Rules[src.First()]
		dest := strings.Trim(c.Schema+"."+c.Table+"."+c.Column, ".")
		if c.View {
			v.deny(first.Name, fmt.Sprintf("masking rule %s: the statement defines a view or materialized view (%s) over columns the rule masks", first.Name, dest))
			continue
		}
		target := c.Target.Direct
		if !c.Known {
			schema := c.Schema
			if schema == "" || schema == "pg_temp" {
				// Where an unqualified (or temporary) relation is created depends on the
				// session's search_path: only a rule matching any schema is sure to mask it.
				schema = anySchema
			}
			target = rs.columnRules(schema, c.Table, c.Column)
		}
		if !covers(rs, target, src) {
			v.deny(first.Name, fmt.Sprintf("masking rule %s: the statement stores values the rule masks in %s, where they would not be masked", first.Name, dest))
		}
	}
}

// anySchema is a schema name no pattern but one matching every schema matches.
const anySchema = "\x00"

// covers reports whether one of the target rules masks for everyone the source rules mask
// for: its clear groups are a subset of every source rule's.
func covers(rs *RuleSet, target, src lineage.Set) bool {
	ok := false
	target.Each(func(t int) {
		tr := rs.Rules[t]
		all := true
		src.Each(func(s int) {
			for _, g := range tr.Clear {
				all = all && containsString(rs.Rules[s].Clear, g)
			}
		})
		ok = ok || all
	})
	return ok
}

func containsString(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// decideOutputs checks the result columns: a computed one carrying masked values is denied
// or masked by content per its rules' fallback; a plain one is masked by its origin, and
// its strategy must be able to produce a valid value of its type.
func (st *engineState) decideOutputs(ctx context.Context, r *resolver, res *lineage.Result, cleared lineage.Set, sp *stmtPlan, v *Verdict) {
	rs := st.rules
	for _, o := range res.Outputs {
		t := o.Taint.Without(cleared)
		if !t.Derived.Empty() {
			denied := false
			t.Derived.Each(func(i int) {
				rule := rs.Rules[i]
				if rule.Fallback == FallbackDeny && !denied {
					denied = true
					v.deny(rule.Name, fmt.Sprintf("masking rule %s: result column %q is computed from columns the rule masks, so it cannot be masked by its origin (select the column itself, which is masked, or use a rule with fallback: detect)", rule.Name, o.Name))
				}
			})
			sp.detect = sp.detect || !denied
		}
		if t.Direct.Empty() {
			continue
		}
		rule := rs.Rules[t.Direct.First()]
		v.Masked = appendNew(v.Masked, rule.Name)
		if o.Type == 0 {
			continue
		}
		if err := r.checkStrategy(ctx, rule, o.Type, o.Typmod); err != nil {
			v.deny(rule.Name, fmt.Sprintf("masking rule %s cannot mask column %q: %v", rule.Name, o.Name, err))
		}
	}
}

// decideCopyOut plans COPY TO STDOUT: binary rows cannot be masked column by column here,
// nor rows in another encoding; text and CSV rows are.
func (st *engineState) decideCopyOut(res *lineage.Result, cleared lineage.Set, sp *stmtPlan, v *Verdict) {
	rs := st.rules
	tainted := false
	for _, o := range res.Outputs {
		t := o.Taint.Without(cleared)
		c := copyColumn{typ: o.Type, typmod: o.Typmod}
		switch {
		case !t.Direct.Empty():
			c.rule, tainted = rs.Rules[t.Direct.First()], true
		case !t.Derived.Empty():
			c.detect, tainted = true, true
		case sp.detect || (rs.Unattributed && !o.Plain):
			c.detect = true
		}
		sp.copyOut = append(sp.copyOut, c)
	}
	if !tainted {
		return
	}
	switch {
	case res.CopyOut.Format == "binary":
		v.deny("builtin/binary-copy", "masking cannot rewrite binary COPY rows, and this COPY includes masked columns: use FORMAT text or csv")
	case res.CopyOut.Encoding != "":
		v.deny("builtin/copy-encoding", "masking reads COPY rows as UTF-8, and this COPY with masked columns asks for another ENCODING")
	}
}
