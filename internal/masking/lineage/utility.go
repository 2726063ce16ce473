package lineage

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// createTableAs is CREATE TABLE AS, CREATE MATERIALIZED VIEW and SELECT INTO's form of it.
func (a *analyzer) createTableAs(st *pg.CreateTableAsStmt) {
	into := st.GetInto()
	if ex := st.GetQuery().GetExecuteStmt(); ex != nil {
		a.res.CopyFromExecute = ex.GetName()
		return
	}
	outs, exact := a.nested(nil, st.GetQuery())
	view := st.GetObjtype() == pg.ObjectType_OBJECT_MATVIEW
	a.copyInto(into.GetRel(), into.GetColNames(), outs, exact, view)
}

// view is CREATE [OR REPLACE] [TEMP] VIEW.
func (a *analyzer) view(st *pg.ViewStmt) {
	outs, exact := a.nested(nil, st.GetQuery())
	a.copyInto(st.GetView(), st.GetAliases(), outs, exact, true)
}

// copyInto records the columns of a relation created from a query.
func (a *analyzer) copyInto(rv *pg.RangeVar, colNames []*pg.Node, outs []Output, exact, view bool) {
	names := fieldNames(colNames)
	schema := rv.GetSchemaname()
	if rv.GetRelpersistence() == "t" {
		schema = "pg_temp"
	}
	for i, o := range outs {
		name := o.Name
		if i < len(names) {
			name = names[i]
		}
		src := o.Taint
		if !exact {
			src = union(outs, false)
		}
		a.res.Copies = append(a.res.Copies, Copy{Schema: schema, Table: rv.GetRelname(), Column: name, View: view, Source: src})
	}
}

// rename records renames that would take masked columns out of their rules' reach.
func (a *analyzer) rename(st *pg.RenameStmt) {
	switch st.GetRenameType() {
	case pg.ObjectType_OBJECT_SCHEMA:
		a.res.MovesSchema = append(a.res.MovesSchema, st.GetSubname())
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
		pg.ObjectType_OBJECT_FOREIGN_TABLE:
		a.moves(st.GetRelation())
	case pg.ObjectType_OBJECT_COLUMN, pg.ObjectType_OBJECT_ATTRIBUTE:
		for _, r := range a.relations(st.GetRelation()) {
			for _, c := range r.Columns {
				if c.Name == st.GetSubname() {
					a.res.Moves = a.res.Moves.Or(c.Taint)
				}
			}
		}
	}
}

// moves records every column of the relations a name denotes as moved.
func (a *analyzer) moves(rv *pg.RangeVar) {
	for _, r := range a.relations(rv) {
		for _, c := range r.Columns {
			a.res.Moves = a.res.Moves.Or(c.Taint)
		}
	}
}

// alterTable looks for the ALTER TABLE commands that detach masked data from a parent,
// or compute column values from other columns.
func (a *analyzer) alterTable(st *pg.AlterTableStmt) {
	rv := st.GetRelation()
	s := newScope(nil)
	t := a.target(s, rv)
	for _, n := range st.GetCmds() {
		cmd := n.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.GetSubtype() {
		case pg.AlterTableType_AT_DropInherit:
			a.moves(rv)
		case pg.AlterTableType_AT_DetachPartition, pg.AlterTableType_AT_DetachPartitionFinalize:
			if p := cmd.GetDef().GetPartitionCmd().GetName(); p != nil {
				a.moves(p)
			}
		case pg.AlterTableType_AT_AlterColumnType:
			if cd := cmd.GetDef().GetColumnDef(); cd != nil && cd.GetRawDefault() != nil {
				a.store(t, cmd.GetName(), a.expr(s, cd.GetRawDefault()).Taint)
			}
		case pg.AlterTableType_AT_SetExpression:
			a.store(t, cmd.GetName(), a.expr(s, cmd.GetDef()).Taint)
		case pg.AlterTableType_AT_AddColumn:
			cd := cmd.GetDef().GetColumnDef()
			for _, c := range cd.GetConstraints() {
				if con := c.GetConstraint(); con != nil && con.GetRawExpr() != nil {
					src := a.expr(s, con.GetRawExpr()).Taint
					if con.GetContype() == pg.ConstrType_CONSTR_GENERATED {
						a.store(t, cd.GetColname(), src)
					} else {
						a.predicate(src)
					}
				}
			}
		case pg.AlterTableType_AT_AddConstraint:
			if con := cmd.GetDef().GetConstraint(); con != nil {
				a.predicateExpr(s, con.GetRawExpr())
			}
		}
	}
}
