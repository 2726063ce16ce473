package classify

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// alterTable classifies ALTER TABLE and its relatives, and raises the migration-safety
// flags of its subcommands.
func (w *walker) alterTable(n *pg.AlterTableStmt) {
	w.command("ALTER "+objectTypeWords(n.GetObjtype()), ClassDDL)
	created := w.q.created[relKey(n.GetRelation())]
	for _, c := range n.GetCmds() {
		cmd := c.GetAlterTableCmd()
		w.lock(alterLock(cmd))
		switch cmd.GetSubtype() {
		case pg.AlterTableType_AT_AddColumn:
			w.addColumn(cmd.GetDef().GetColumnDef(), created)
		case pg.AlterTableType_AT_SetNotNull:
			if !created {
				w.st.Flags |= FlagSetNotNull
			}
		case pg.AlterTableType_AT_AddConstraint:
			if !created && validates(cmd.GetDef().GetConstraint()) {
				w.st.Flags |= FlagValidatingConstraint
			}
		case pg.AlterTableType_AT_AlterColumnType:
			w.st.Flags |= FlagColumnTypeChange
		case pg.AlterTableType_AT_DropColumn:
			w.st.Flags |= FlagDropColumn
		case pg.AlterTableType_AT_ChangeOwner:
			w.st.Classes |= ClassRole
		}
	}
	w.childrenUnder(ActDDL, n)
}

// alterLock is the table lock a subcommand takes (PostgreSQL's AlterTableGetLockLevel,
// coarsened: what is not listed takes ACCESS EXCLUSIVE, as most subcommands do).
func alterLock(cmd *pg.AlterTableCmd) Lock {
	switch cmd.GetSubtype() {
	case pg.AlterTableType_AT_ValidateConstraint, pg.AlterTableType_AT_SetStatistics,
		pg.AlterTableType_AT_ClusterOn, pg.AlterTableType_AT_DropCluster,
		pg.AlterTableType_AT_SetRelOptions, pg.AlterTableType_AT_ResetRelOptions,
		pg.AlterTableType_AT_DetachPartitionFinalize:
		return LockShareUpdateExclusive
	case pg.AlterTableType_AT_AttachPartition:
		return LockShareUpdateExclusive
	case pg.AlterTableType_AT_AddConstraint:
		if cmd.GetDef().GetConstraint().GetContype() == pg.ConstrType_CONSTR_FOREIGN {
			return LockShareRowExclusive
		}
	}
	return LockAccessExclusive
}

// addColumn flags column additions that fail or rewrite on a populated table.
func (w *walker) addColumn(col *pg.ColumnDef, created bool) {
	if col == nil || created {
		return
	}
	notNull, hasDefault := false, false
	for _, c := range col.GetConstraints() {
		con := c.GetConstraint()
		switch con.GetContype() {
		case pg.ConstrType_CONSTR_NOTNULL, pg.ConstrType_CONSTR_PRIMARY:
			notNull = true
		case pg.ConstrType_CONSTR_DEFAULT:
			hasDefault = true
			if !stableExpr(con.GetRawExpr()) {
				w.st.Flags |= FlagVolatileDefault
			}
		case pg.ConstrType_CONSTR_IDENTITY, pg.ConstrType_CONSTR_GENERATED:
			hasDefault = true
			w.st.Flags |= FlagVolatileDefault
		case pg.ConstrType_CONSTR_CHECK, pg.ConstrType_CONSTR_FOREIGN, pg.ConstrType_CONSTR_UNIQUE:
			if validates(con) {
				w.st.Flags |= FlagValidatingConstraint
			}
		}
	}
	if serialType(col.GetTypeName()) {
		hasDefault = true
		w.st.Flags |= FlagVolatileDefault
	}
	if notNull && !hasDefault {
		w.st.Flags |= FlagNotNullWithoutDefault
	}
}

// validates reports whether adding the constraint scans the table under a strong lock:
// CHECK and FOREIGN KEY without NOT VALID, and keys that build their index in place.
func validates(c *pg.Constraint) bool {
	switch c.GetContype() {
	case pg.ConstrType_CONSTR_CHECK, pg.ConstrType_CONSTR_FOREIGN:
		return !c.GetSkipValidation()
	case pg.ConstrType_CONSTR_PRIMARY, pg.ConstrType_CONSTR_UNIQUE, pg.ConstrType_CONSTR_EXCLUSION:
		return c.GetIndexname() == ""
	}
	return false
}

func serialType(t *pg.TypeName) bool {
	if t == nil || len(t.GetNames()) == 0 {
		return false
	}
	switch t.GetNames()[len(t.GetNames())-1].GetString_().GetSval() {
	case "serial", "serial2", "serial4", "serial8", "smallserial", "bigserial":
		return true
	}
	return false
}

// stableFunctions are functions whose value as a column default is computed once, so
// PostgreSQL adds the column without rewriting the table. Any other call counts as volatile:
// without the catalog, an unknown function must be assumed to rewrite.
var stableFunctions = map[string]bool{
	"now": true, "transaction_timestamp": true, "statement_timestamp": true,
	"current_setting": true, "lower": true, "upper": true, "concat": true,
	"to_timestamp": true, "to_date": true, "make_date": true, "make_interval": true,
	"jsonb_build_object": true, "json_build_object": true, "array_fill": true,
}

// stableExpr reports whether a default expression calls only stable functions.
func stableExpr(n *pg.Node) bool {
	stable := true
	walkAny(n, func(fc *pg.FuncCall) {
		_, name := qualifiedName(fc.GetFuncname())
		if !stableFunctions[name] {
			stable = false
		}
	})
	return stable
}
