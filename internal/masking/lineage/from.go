package lineage

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// from adds the entries of a FROM clause to s. Every item may see the items before it
// (LATERAL; without LATERAL PostgreSQL rejects such references, so allowing them only
// over-approximates).
func (a *analyzer) from(s *scope, items []*pg.Node) {
	for _, it := range items {
		a.fromItem(s, it)
	}
}

// fromItem adds the entries of one FROM item to s and returns them.
func (a *analyzer) fromItem(s *scope, n *pg.Node) []*entry {
	if !a.enter() {
		return nil
	}
	defer a.leave()
	var added []*entry
	switch v := n.GetNode().(type) {
	case *pg.Node_RangeVar:
		added = []*entry{a.rangeVar(s, v.RangeVar)}
	case *pg.Node_RangeSubselect:
		added = []*entry{a.subselect(s, v.RangeSubselect)}
	case *pg.Node_RangeFunction:
		added = []*entry{a.rangeFunction(s, v.RangeFunction)}
	case *pg.Node_JoinExpr:
		return a.join(s, v.JoinExpr)
	case *pg.Node_RangeTableSample:
		added = a.fromItem(s, v.RangeTableSample.GetRelation())
		for _, arg := range v.RangeTableSample.GetArgs() {
			a.predicateExpr(s, arg)
		}
		a.predicateExpr(s, v.RangeTableSample.GetRepeatable())
		return added
	case *pg.Node_RangeTableFunc:
		added = []*entry{a.opaqueItem(s, v.RangeTableFunc, v.RangeTableFunc.GetAlias(), "xmltable")}
	case *pg.Node_JsonTable:
		added = []*entry{a.opaqueItem(s, v.JsonTable, v.JsonTable.GetAlias(), "json_table")}
	default:
		a.refuse("a FROM item of type " + nodeName(n))
		return nil
	}
	s.entries = append(s.entries, added...)
	return added
}

// rangeVar is a table, view or CTE named in FROM.
func (a *analyzer) rangeVar(s *scope, rv *pg.RangeVar) *entry {
	name := rv.GetRelname()
	alias := rv.GetAlias()
	e := &entry{name: name, schema: rv.GetSchemaname()}
	if alias.GetAliasname() != "" {
		e.name = alias.GetAliasname()
	}
	if rv.GetSchemaname() == "" && rv.GetCatalogname() == "" {
		if c := s.cte(name); c != nil {
			e.known, e.opaque = c.known, c.opaque
			fillEntry(e, c.cols, alias.GetColnames())
			return e
		}
	}
	rels := a.relations(rv)
	cols := relationColumns(rels)
	// A relation the catalog does not know (created and not yet committed by this session,
	// or not existing at all) has no masked column: sensitive values can only reach a new
	// relation through a copy, and copies are checked.
	e.known = len(rels) > 0
	fillEntry(e, cols, alias.GetColnames())
	return e
}

// relationColumns merges the columns of the relations a name may denote: by position when
// there is one, by name otherwise (union of taints).
func relationColumns(rels []*Relation) []Output {
	var out []Output
	index := map[string]int{}
	for _, r := range rels {
		for _, c := range r.Columns {
			o := Output{Name: c.Name, Taint: c.Taint, Plain: true, Type: c.Type, Typmod: c.Typmod}
			if i, ok := index[c.Name]; ok {
				out[i].add(o)
				continue
			}
			index[c.Name] = len(out)
			out = append(out, o)
		}
	}
	if len(rels) > 1 {
		// Positions differ between candidates: an alias list or a star could pair any
		// column with any name.
		all := union(out, false)
		for i := range out {
			out[i].Taint = out[i].Taint.Or(all)
		}
	}
	return out
}

// subselect is a subquery in FROM.
func (a *analyzer) subselect(s *scope, rs *pg.RangeSubselect) *entry {
	alias := rs.GetAlias()
	e := &entry{name: alias.GetAliasname()}
	outs, exact := a.nested(s, rs.GetSubquery())
	e.known = exact
	if !exact {
		e.opaque = union(outs, false)
	}
	fillEntry(e, outs, alias.GetColnames())
	return e
}

// rangeFunction is a function call in FROM (ROWS FROM, WITH ORDINALITY). Its columns are
// not known here; each may carry whatever the arguments carry.
func (a *analyzer) rangeFunction(s *scope, rf *pg.RangeFunction) *entry {
	var t Taint
	name := ""
	for _, item := range rf.GetFunctions() {
		parts := item.GetList().GetItems()
		if len(parts) == 0 {
			continue
		}
		if fc := parts[0].GetFuncCall(); fc != nil && name == "" {
			_, name = funcName(fc.GetFuncname())
		}
		t = t.Or(a.expr(s, parts[0]).Taint)
	}
	e := &entry{name: name, opaque: t.Derive()}
	if alias := rf.GetAlias(); alias.GetAliasname() != "" {
		e.name = alias.GetAliasname()
	}
	for _, n := range fieldNames(rf.GetAlias().GetColnames()) {
		e.cols = append(e.cols, Output{Name: n, Taint: e.opaque})
	}
	return e
}

// opaqueItem is a table function (XMLTABLE, JSON_TABLE): columns computed from its inputs.
func (a *analyzer) opaqueItem(s *scope, msg proto.Message, alias *pg.Alias, name string) *entry {
	e := &entry{name: name, opaque: a.children(s, msg).Derive()}
	if alias.GetAliasname() != "" {
		e.name = alias.GetAliasname()
	}
	return e
}

// join adds both sides of a join, then the columns USING or NATURAL merges, and an entry
// for the join's alias if it has one. Join conditions are predicates.
func (a *analyzer) join(s *scope, j *pg.JoinExpr) []*entry {
	left := a.fromItem(s, j.GetLarg())
	right := a.fromItem(s, j.GetRarg())
	sides := append(append([]*entry{}, left...), right...)
	var merged []string
	switch {
	case j.GetIsNatural():
		merged = commonNames(left, right)
	default:
		merged = fieldNames(j.GetUsingClause())
	}
	mergedCols := make([]Output, 0, len(merged))
	for _, name := range merged {
		t := taintIn(sides, name)
		a.predicate(t)
		s.merge(name, t)
		mergedCols = append(mergedCols, Output{Name: name, Taint: t.Derive()})
	}
	a.predicateExpr(s, j.GetQuals())
	var added []*entry
	if u := j.GetJoinUsingAlias(); u.GetAliasname() != "" {
		added = append(added, &entry{name: u.GetAliasname(), cols: mergedCols, known: true})
	}
	if al := j.GetAlias(); al.GetAliasname() != "" {
		e := &entry{name: al.GetAliasname(), known: true}
		cols := append([]Output{}, mergedCols...)
		for _, side := range sides {
			cols = append(cols, side.cols...)
			if !side.known {
				e.known = false
				e.opaque = e.opaque.Or(side.opaque)
			}
		}
		fillEntry(e, cols, al.GetColnames())
		added = append(added, e)
	}
	s.entries = append(s.entries, added...)
	return append(sides, added...)
}

// commonNames are the column names both sides of a NATURAL join have; a side with unknown
// columns may have any, so all names of the other side are taken.
func commonNames(left, right []*entry) []string {
	names := func(es []*entry) (map[string]bool, bool) {
		m := map[string]bool{}
		known := true
		for _, e := range es {
			known = known && e.known
			for _, c := range e.cols {
				m[c.Name] = true
			}
		}
		return m, known
	}
	l, lk := names(left)
	r, rk := names(right)
	var out []string
	add := func(src map[string]bool, es []*entry, cond func(string) bool) {
		for _, e := range es {
			for _, c := range e.cols {
				if src[c.Name] && cond(c.Name) {
					out = append(out, c.Name)
					delete(src, c.Name)
				}
			}
		}
	}
	add(l, left, func(n string) bool { return r[n] || !rk })
	if !lk {
		add(r, right, func(string) bool { return true })
	}
	return out
}

// taintIn is the taint of every column so named among the entries (unknown entries may
// have it).
func taintIn(es []*entry, name string) Taint {
	var t Taint
	for _, e := range es {
		for _, c := range e.cols {
			if c.Name == name {
				t = t.Or(c.Taint)
			}
		}
		if !e.known {
			t = t.Or(e.opaque)
		}
	}
	return t
}
