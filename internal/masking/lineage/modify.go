package lineage

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// target is the relation an INSERT, UPDATE, DELETE or MERGE writes: its entry (for the
// statement's own column references) and what the catalog knows of it.
type target struct {
	e    *entry
	rels []*Relation
	rv   *pg.RangeVar
}

func (a *analyzer) target(s *scope, rv *pg.RangeVar) target {
	rels := a.relations(rv)
	e := &entry{name: rv.GetRelname(), schema: rv.GetSchemaname(), known: len(rels) > 0}
	if al := rv.GetAlias().GetAliasname(); al != "" {
		e.name = al
	}
	fillEntry(e, relationColumns(rels), nil)
	s.entries = append(s.entries, e)
	return target{e: e, rels: rels, rv: rv}
}

// store records that a value carrying src is written into column col of the target.
func (a *analyzer) store(t target, col string, src Taint) {
	c := Copy{Schema: t.rv.GetSchemaname(), Table: t.rv.GetRelname(), Column: col, Source: src, Known: len(t.rels) > 0}
	first := true
	for _, r := range t.rels {
		var ct Taint
		found := false
		for _, rc := range r.Columns {
			if rc.Name == col {
				ct, found = rc.Taint, true
			}
		}
		if !found {
			// The destination cannot be shown to be masked in every relation the name may
			// denote: treat it as unmasked.
			c.Target = Taint{}
			break
		}
		if first {
			c.Target, first = ct, false
		} else {
			c.Target = Taint{Direct: c.Target.Direct.And(ct.Direct), Derived: c.Target.Derived.And(ct.Derived)}
		}
	}
	a.res.Copies = append(a.res.Copies, c)
}

// columnNames are the names of an INSERT's column list, or the target's columns in order.
func columnNames(t target, cols []*pg.Node) []string {
	var out []string
	if len(cols) == 0 {
		for _, c := range t.e.cols {
			out = append(out, c.Name)
		}
		return out
	}
	for _, c := range cols {
		out = append(out, c.GetResTarget().GetName())
	}
	return out
}

func (a *analyzer) insert(outer *scope, st *pg.InsertStmt) []Output {
	s := newScope(outer)
	a.with(s, st.GetWithClause())
	// The source query does not see the target's columns: analyse it first.
	var src []Output
	exact := true
	if q := st.GetSelectStmt(); q != nil {
		src, exact = a.nested(s, q)
	}
	t := a.target(s, st.GetRelation())
	names := columnNames(t, st.GetCols())
	for i, name := range names {
		switch {
		case !exact:
			a.store(t, name, union(src, false))
		case i < len(src):
			a.store(t, name, src[i].Taint)
		}
	}
	if oc := st.GetOnConflictClause(); oc != nil {
		// EXCLUDED is the row proposed for insertion, with the target's columns.
		ex := &entry{name: "excluded", known: t.e.known, cols: t.e.cols}
		cs := newScope(s)
		cs.entries = append(cs.entries, ex)
		a.predicateExprs(cs, oc.GetInfer().GetIndexElems())
		a.predicateExpr(cs, oc.GetInfer().GetWhereClause())
		a.setList(cs, t, oc.GetTargetList())
		a.predicateExpr(cs, oc.GetWhereClause())
	}
	outs, _ := a.targets(s, st.GetReturningList())
	return outs
}

func (a *analyzer) update(outer *scope, st *pg.UpdateStmt) []Output {
	s := newScope(outer)
	a.with(s, st.GetWithClause())
	t := a.target(s, st.GetRelation())
	a.from(s, st.GetFromClause())
	a.predicateExpr(s, st.GetWhereClause())
	a.setList(s, t, st.GetTargetList())
	outs, _ := a.targets(s, st.GetReturningList())
	return outs
}

// setList records the assignments of an UPDATE (or ON CONFLICT DO UPDATE, or MERGE ...
// UPDATE) SET list: col = expr, and (a, b) = (SELECT ...) whose parts are MultiAssignRefs.
func (a *analyzer) setList(s *scope, t target, list []*pg.Node) {
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			a.refuse("an assignment that is not a target")
			continue
		}
		val := rt.GetVal()
		if mar := val.GetMultiAssignRef(); mar != nil {
			val = mar.GetSource()
		}
		src := a.expr(s, val).Taint
		for _, ind := range rt.GetIndirection() {
			// SET col[i] = ..., SET col.field = ...: the subscript is a predicate-like use.
			a.predicate(a.expr(s, ind).Taint)
		}
		a.store(t, rt.GetName(), src)
	}
}

func (a *analyzer) delete(outer *scope, st *pg.DeleteStmt) []Output {
	s := newScope(outer)
	a.with(s, st.GetWithClause())
	a.target(s, st.GetRelation())
	a.from(s, st.GetUsingClause())
	a.predicateExpr(s, st.GetWhereClause())
	outs, _ := a.targets(s, st.GetReturningList())
	return outs
}

func (a *analyzer) merge(outer *scope, st *pg.MergeStmt) []Output {
	s := newScope(outer)
	a.with(s, st.GetWithClause())
	t := a.target(s, st.GetRelation())
	a.fromItem(s, st.GetSourceRelation())
	a.predicateExpr(s, st.GetJoinCondition())
	for _, n := range st.GetMergeWhenClauses() {
		wc := n.GetMergeWhenClause()
		if wc == nil {
			a.refuse("a MERGE clause of an unknown form")
			continue
		}
		a.predicateExpr(s, wc.GetCondition())
		switch wc.GetCommandType() {
		case pg.CmdType_CMD_UPDATE:
			a.setList(s, t, wc.GetTargetList())
		case pg.CmdType_CMD_INSERT:
			names := columnNames(t, wc.GetTargetList())
			for i, v := range wc.GetValues() {
				if i < len(names) {
					a.store(t, names[i], a.expr(s, v).Taint)
				}
			}
		}
	}
	outs, _ := a.targets(s, st.GetReturningList())
	return outs
}
