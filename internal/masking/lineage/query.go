package lineage

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// query analyses a SELECT, VALUES or set operation whose enclosing level is outer, and
// returns its result columns. exact is false when their number or order is not certain
// (a star over something whose columns are unknown).
func (a *analyzer) query(outer *scope, sel *pg.SelectStmt) (outs []Output, exact bool) {
	if sel == nil || !a.enter() {
		return nil, false
	}
	defer a.leave()
	s := newScope(outer)
	a.with(s, sel.GetWithClause())
	switch {
	case sel.GetOp() != pg.SetOperation_SETOP_NONE:
		outs, exact = a.setOperation(s, sel)
	case len(sel.GetValuesLists()) > 0:
		outs, exact = a.values(s, sel.GetValuesLists())
	default:
		a.from(s, sel.GetFromClause())
		a.predicateExpr(s, sel.GetWhereClause())
		a.predicateExprs(s, sel.GetGroupClause())
		a.predicateExpr(s, sel.GetHavingClause())
		a.predicateExprs(s, sel.GetWindowClause())
		a.predicateExprs(s, sel.GetDistinctClause())
		outs, exact = a.targets(s, sel.GetTargetList())
	}
	a.sortClause(s, sel.GetSortClause(), outs)
	a.predicateExpr(s, sel.GetLimitCount())
	a.predicateExpr(s, sel.GetLimitOffset())
	if into := sel.GetIntoClause(); into != nil {
		a.copyInto(into.GetRel(), into.GetColNames(), outs, exact, false)
	}
	return outs, exact
}

// setOperation combines UNION, INTERSECT and EXCEPT branches column by column. PostgreSQL
// reports no origin for a set operation's columns, so every column is computed.
func (a *analyzer) setOperation(s *scope, sel *pg.SelectStmt) ([]Output, bool) {
	l, lexact := a.query(s, sel.GetLarg())
	r, rexact := a.query(s, sel.GetRarg())
	exact := lexact && rexact && len(l) == len(r)
	outs := make([]Output, len(l))
	for i, c := range l {
		t := c.Taint
		if i < len(r) {
			t = t.Or(r[i].Taint)
		}
		outs[i] = Output{Name: c.Name, Taint: t.Derive()}
	}
	if !exact {
		all := union(l, false).Or(union(r, false))
		for i := range outs {
			outs[i].Taint = all
		}
	}
	return outs, exact
}

// values analyses a VALUES list: column i of every row is output i. Values rows report no
// origin.
func (a *analyzer) values(s *scope, rows []*pg.Node) ([]Output, bool) {
	var outs []Output
	for _, row := range rows {
		cells := row.GetList().GetItems()
		for i, cell := range cells {
			if i == len(outs) {
				outs = append(outs, Output{Name: fmt.Sprintf("column%d", i+1)})
			}
			outs[i].Taint = outs[i].Taint.Or(a.expr(s, cell).Taint.Derive())
		}
	}
	return outs, true
}

// targets analyses a target list (or RETURNING list) in scope s.
func (a *analyzer) targets(s *scope, list []*pg.Node) ([]Output, bool) {
	var outs []Output
	exact := true
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			a.refuse("a target list item that is not a target")
			continue
		}
		if cols, ok, ex := a.starTarget(s, rt); ok {
			outs = append(outs, cols...)
			exact = exact && ex
			continue
		}
		out := a.expr(s, rt.GetVal())
		name, certain := rt.GetName(), true
		if name == "" {
			name, certain = figureName(rt.GetVal())
		}
		if !out.Plain {
			out.Type, out.Typmod = 0, 0
		}
		out.Name, out.guessed = name, !certain
		outs = append(outs, out)
	}
	return outs, exact
}

// starTarget expands a target that is * or qualifier.* into the columns it stands for.
func (a *analyzer) starTarget(s *scope, rt *pg.ResTarget) (cols []Output, ok, exact bool) {
	cr := rt.GetVal().GetColumnRef()
	if cr == nil || rt.GetName() != "" {
		return nil, false, false
	}
	names := fieldNames(cr.GetFields())
	n := len(names)
	if n == 0 || names[n-1] != "*" {
		return nil, false, false
	}
	if n == 1 {
		cols, exact = s.star()
		return cols, true, exact
	}
	cols, found, exact := s.qualifiedStar(names[n-2])
	if !found {
		// (composite).* expands a column's fields, which have no origin.
		t := s.column(names[0]).Taint.Derive()
		return []Output{{Name: "?column?", Taint: t, guessed: true}}, true, false
	}
	return cols, true, exact
}

// sortClause records ORDER BY items as predicates: an output column named or numbered,
// or an expression over the FROM items.
func (a *analyzer) sortClause(s *scope, items []*pg.Node, outs []Output) {
	for _, it := range items {
		sb := it.GetSortBy()
		if sb == nil {
			a.predicateExpr(s, it)
			continue
		}
		n := sb.GetNode()
		if c := n.GetAConst(); c != nil && c.GetIval() != nil {
			a.res.Positional = true
			if i := int(c.GetIval().GetIval()); i >= 1 && i <= len(outs) {
				a.predicate(outs[i-1].Taint)
			}
			continue
		}
		if cr := n.GetColumnRef(); cr != nil {
			if names := fieldNames(cr.GetFields()); len(names) == 1 {
				for _, o := range outs {
					if o.Name == names[0] {
						a.predicate(o.Taint)
					}
				}
			}
		}
		a.predicateExpr(s, n)
	}
}

// with analyses a WITH clause, making each CTE visible to the ones after it (and, when
// recursive, to itself).
func (a *analyzer) with(s *scope, w *pg.WithClause) {
	for _, n := range w.GetCtes() {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			a.refuse("a WITH item that is not a common table expression")
			continue
		}
		e := &entry{name: cte.GetCtename()}
		if w.GetRecursive() {
			a.recursiveCTE(s, cte, e)
		} else {
			a.cteColumns(s, cte, e)
		}
		s.addCTE(e)
	}
}

// recursiveCTE analyses a recursive CTE until what its self-reference carries stops
// growing; the first round sees the self-reference as unknown and clean.
func (a *analyzer) recursiveCTE(s *scope, cte *pg.CommonTableExpr, e *entry) {
	self := &entry{name: e.name}
	s.addCTE(self)
	for range 8 {
		a.cteColumns(s, cte, e)
		next := entry{name: e.name, known: e.known, opaque: e.opaque.Derive()}
		for _, c := range e.cols {
			next.cols = append(next.cols, Output{Name: c.Name, Taint: c.Taint.Derive()})
		}
		if sameEntry(&next, self) {
			return
		}
		*self = next
	}
	// Did not settle: everything it could carry, anywhere.
	e.known, e.opaque = false, union(e.cols, false).Or(e.opaque).Derive()
}

func sameEntry(x, y *entry) bool {
	if x.known != y.known || x.opaque != y.opaque || len(x.cols) != len(y.cols) {
		return false
	}
	for i := range x.cols {
		if x.cols[i].Name != y.cols[i].Name || x.cols[i].Taint != y.cols[i].Taint {
			return false
		}
	}
	return true
}

// cteColumns fills e with the columns of a CTE's query (a SELECT, or a data-modifying
// statement's RETURNING list), renamed by its column list, plus the columns its SEARCH
// and CYCLE clauses add (built from the values of the columns they list).
func (a *analyzer) cteColumns(s *scope, cte *pg.CommonTableExpr, e *entry) {
	outs, exact := a.nested(s, cte.GetCtequery())
	e.cols, e.known, e.opaque = nil, exact, Taint{}
	fillEntry(e, outs, cte.GetAliascolnames())
	all := union(e.cols, exact).Derive()
	if sc := cte.GetSearchClause(); sc != nil {
		e.cols = append(e.cols, Output{Name: sc.GetSearchSeqColumn(), Taint: all})
	}
	if cc := cte.GetCycleClause(); cc != nil {
		e.cols = append(e.cols, Output{Name: cc.GetCycleMarkColumn(), Taint: all},
			Output{Name: cc.GetCyclePathColumn(), Taint: all})
	}
}

// fillEntry gives e the columns outs, renamed by an alias column list. A tainted column
// whose name could not be figured makes the entry's names uncertain: any name may then
// denote it.
func fillEntry(e *entry, outs []Output, aliases []*pg.Node) {
	names := fieldNames(aliases)
	for i, o := range outs {
		if i < len(names) {
			o.Name, o.guessed = names[i], false
		}
		if o.guessed && !o.Taint.Clean() {
			e.known = false
			e.opaque = e.opaque.Or(o.Taint)
		}
		e.cols = append(e.cols, o)
	}
}

// nested analyses a statement used as a query inside another (a CTE, a subquery, PREPARE,
// DECLARE, COPY): a SELECT, or INSERT/UPDATE/DELETE/MERGE whose RETURNING list is the
// result.
func (a *analyzer) nested(s *scope, n *pg.Node) ([]Output, bool) {
	switch v := n.GetNode().(type) {
	case *pg.Node_SelectStmt:
		return a.query(s, v.SelectStmt)
	case *pg.Node_InsertStmt:
		return a.insert(s, v.InsertStmt), true
	case *pg.Node_UpdateStmt:
		return a.update(s, v.UpdateStmt), true
	case *pg.Node_DeleteStmt:
		return a.delete(s, v.DeleteStmt), true
	case *pg.Node_MergeStmt:
		return a.merge(s, v.MergeStmt), true
	}
	a.refuse(fmt.Sprintf("a %s used as a query", nodeName(n)))
	return nil, false
}
