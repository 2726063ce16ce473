package classify

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// handle gives meaning to the message types that carry it and reports whether it walked
// the children itself. Types it does not handle are walked generically by visit.
func (w *walker) handle(msg proto.Message) bool {
	switch n := msg.(type) {
	case *pg.RangeVar:
		w.relation(n, w.action)
	case *pg.FuncCall:
		w.funcCall(n)
	case *pg.RoleSpec:
		w.roleSpec(n)
	case *pg.CommonTableExpr:
		w.inCTE++
		w.children(n.ProtoReflect())
		w.inCTE--
	case *pg.SelectStmt:
		w.selectStmt(n)
	case *pg.InsertStmt:
		w.dml("INSERT", n.GetRelation(), ActInsert)
		if oc := n.GetOnConflictClause(); oc != nil && oc.GetAction() == pg.OnConflictAction_ONCONFLICT_UPDATE {
			w.relation(n.GetRelation(), ActUpdate)
		}
		w.children(n.ProtoReflect(), "relation")
	case *pg.UpdateStmt:
		w.dml("UPDATE", n.GetRelation(), ActUpdate)
		w.unbounded(n.GetWhereClause())
		w.children(n.ProtoReflect(), "relation")
	case *pg.DeleteStmt:
		w.dml("DELETE", n.GetRelation(), ActDelete)
		w.unbounded(n.GetWhereClause())
		w.children(n.ProtoReflect(), "relation")
	case *pg.MergeStmt:
		w.mergeStmt(n)
	case *pg.CopyStmt:
		w.copyStmt(n)
	case *pg.TruncateStmt:
		w.command("TRUNCATE TABLE", ClassWrite)
		w.lock(LockAccessExclusive)
		w.childrenUnder(ActTruncate, n)
	case *pg.LockStmt:
		w.command("LOCK TABLE", ClassMisc)
		w.lock(Lock(n.GetMode()))
		w.childrenUnder(ActLock, n)
	case *pg.VariableSetStmt:
		w.variableSet(n)
	case *pg.TransactionStmt:
		w.command(transactionTag(n), ClassMisc)
		w.st.Flags |= FlagTransactionControl
		w.children(n.ProtoReflect())
	case *pg.DiscardStmt:
		w.command("DISCARD "+strings.TrimPrefix(n.GetTarget().String(), "DISCARD_"), ClassMisc)
		w.st.Flags |= FlagSessionState
	case *pg.DoStmt:
		w.command("DO", ClassFunction)
		w.st.Flags |= FlagOpaqueCode
		w.children(n.ProtoReflect())
	case *pg.CallStmt:
		w.command("CALL", ClassFunction)
		w.children(n.ProtoReflect())
	case *pg.ExplainStmt:
		w.command("EXPLAIN", ClassMisc)
		w.children(n.ProtoReflect())
	case *pg.PrepareStmt:
		w.command("PREPARE", ClassMisc)
		w.children(n.ProtoReflect())
	case *pg.DeclareCursorStmt:
		w.command("DECLARE CURSOR", ClassRead)
		w.children(n.ProtoReflect())
	case *pg.CreateStmt:
		w.createStmt(n)
	case *pg.CreateTableAsStmt:
		w.createTableAs(n)
	case *pg.IndexStmt:
		w.indexStmt(n)
	case *pg.AlterTableStmt:
		w.alterTable(n)
	case *pg.RenameStmt:
		w.command("ALTER "+objectTypeWords(renameTarget(n)), ClassDDL)
		w.st.Flags |= FlagRename
		w.lock(LockAccessExclusive)
		w.childrenUnder(ActDDL, n)
		w.namedObjects(n.GetRenameType(), n.GetObject())
	case *pg.DropStmt:
		w.command("DROP "+objectTypeWords(n.GetRemoveType()), ClassDDL)
		w.lock(LockAccessExclusive)
		w.childrenUnder(ActDDL, n)
		for _, o := range n.GetObjects() {
			w.namedObjects(n.GetRemoveType(), o)
		}
	case *pg.CreateFunctionStmt:
		tag := "CREATE FUNCTION"
		if n.GetIsProcedure() {
			tag = "CREATE PROCEDURE"
		}
		w.command(tag, ClassDDL)
		w.st.Flags |= FlagOpaqueCode
		schema, name := qualifiedName(n.GetFuncname())
		w.object("function", schema, name, ActDDL)
		w.childrenUnder(ActDDL, n, "funcname")
	case *pg.CreateTrigStmt:
		w.command("CREATE TRIGGER", ClassDDL)
		w.st.Flags |= FlagOpaqueCode
		w.lock(LockShareRowExclusive)
		schema, name := qualifiedName(n.GetFuncname())
		w.st.Functions = append(w.st.Functions, Function{Schema: schema, Name: name})
		w.childrenUnder(ActDDL, n, "funcname")
	case *pg.RuleStmt:
		w.command("CREATE RULE", ClassDDL)
		w.st.Flags |= FlagOpaqueCode
		w.lock(LockAccessExclusive)
		w.relation(n.GetRelation(), ActDDL)
		w.childrenUnder(ActSelect, n, "relation")
	case *pg.CreateEventTrigStmt:
		w.command("CREATE EVENT TRIGGER", ClassDDL)
		w.st.Flags |= FlagOpaqueCode
		schema, name := qualifiedName(n.GetFuncname())
		w.st.Functions = append(w.st.Functions, Function{Schema: schema, Name: name})
		w.childrenUnder(ActDDL, n, "funcname")
	case *pg.VacuumStmt:
		tag, l := "ANALYZE", LockShareUpdateExclusive
		if n.GetIsVacuumcmd() {
			tag = "VACUUM"
			if hasOption(n.GetOptions(), "full") {
				l = LockAccessExclusive
			}
		}
		w.command(tag, ClassMisc)
		w.lock(l)
		w.childrenUnder(ActMaintenance, n)
	case *pg.CreateTableSpaceStmt:
		w.command("CREATE TABLESPACE", ClassDDL)
		w.st.Flags |= FlagFileAccess
		w.childrenUnder(ActDDL, n)
	case *pg.AlterRoleSetStmt:
		w.command("ALTER ROLE", ClassRole)
		w.roleSpec(n.GetRole())
		w.childrenUnder(ActDDL, n, "role", "setstmt")
		w.visitPersistentSet(n.GetSetstmt())
	case *pg.AlterDatabaseSetStmt:
		w.command("ALTER DATABASE", ClassDDL)
		w.object("database", "", n.GetDbname(), ActDDL)
		w.visitPersistentSet(n.GetSetstmt())
	case *pg.AlterSystemStmt:
		w.command("ALTER SYSTEM", ClassDDL)
		w.visitPersistentSet(n.GetSetstmt())
	default:
		return w.utility(msg)
	}
	return true
}

// dml records the target of INSERT/UPDATE/DELETE/MERGE; inside WITH it is a data-modifying
// CTE, which a plain look at the top-level SELECT would miss.
func (w *walker) dml(tag string, rel *pg.RangeVar, a Action) {
	w.command(tag, ClassWrite)
	w.lock(LockRowExclusive)
	if w.inCTE > 0 {
		w.st.Flags |= FlagModifyingCTE
	}
	w.relation(rel, a)
}

// unbounded flags UPDATE/DELETE that would touch every row: no WHERE, or a WHERE that
// mentions no column at all (WHERE true, WHERE 1 = 1, WHERE 'a' = 'a').
func (w *walker) unbounded(where *pg.Node) {
	if where == nil || !mentionsColumn(where) {
		w.st.Flags |= FlagUnboundedDML
	}
}

func (w *walker) selectStmt(n *pg.SelectStmt) {
	// The VALUES of an INSERT reads nothing by itself (pgaudit: WRITE); a query in it is
	// a select of its own, and the relations it reads make the class READ.
	if w.top() || len(n.GetValuesLists()) == 0 {
		w.command("SELECT", ClassRead)
	}
	w.lock(LockAccessShare)
	if len(n.GetLockingClause()) > 0 {
		w.lock(LockRowShare)
	}
	if into := n.GetIntoClause(); into != nil {
		if w.top() || w.st.Command == "SELECT" {
			w.st.Command = "SELECT INTO"
			w.st.Class = ClassDDL
		}
		w.st.Classes |= ClassDDL
		w.relation(into.GetRel(), ActDDL)
		w.q.created[relKey(into.GetRel())] = true
		w.childrenUnder(ActDDL, into, "rel")
	}
	w.childrenUnder(ActSelect, n, "into_clause")
}

func (w *walker) mergeStmt(n *pg.MergeStmt) {
	w.command("MERGE", ClassWrite)
	w.lock(LockRowExclusive)
	if w.inCTE > 0 {
		w.st.Flags |= FlagModifyingCTE
	}
	for _, c := range n.GetMergeWhenClauses() {
		switch c.GetMergeWhenClause().GetCommandType() {
		case pg.CmdType_CMD_INSERT:
			w.relation(n.GetRelation(), ActInsert)
		case pg.CmdType_CMD_UPDATE:
			w.relation(n.GetRelation(), ActUpdate)
		case pg.CmdType_CMD_DELETE:
			w.relation(n.GetRelation(), ActDelete)
		}
	}
	// MERGE reads its target too (the join), whatever its actions.
	w.relation(n.GetRelation(), ActSelect)
	w.children(n.ProtoReflect(), "relation")
}

func (w *walker) copyStmt(n *pg.CopyStmt) {
	if n.GetIsFrom() {
		w.command("COPY", ClassWrite)
		w.lock(LockRowExclusive)
		w.relation(n.GetRelation(), ActInsert)
	} else {
		w.command("COPY", ClassRead)
		w.lock(LockAccessShare)
		w.relation(n.GetRelation(), ActSelect)
	}
	switch {
	case n.GetIsProgram():
		w.st.Flags |= FlagProgramExecution
	case n.GetFilename() != "":
		w.st.Flags |= FlagFileAccess
	}
	w.children(n.ProtoReflect(), "relation")
}

func (w *walker) createStmt(n *pg.CreateStmt) {
	w.command("CREATE TABLE", ClassDDL)
	w.lock(LockAccessExclusive)
	w.q.created[relKey(n.GetRelation())] = true
	w.childrenUnder(ActDDL, n)
}

func (w *walker) createTableAs(n *pg.CreateTableAsStmt) {
	tag := "CREATE TABLE AS"
	switch {
	case n.GetObjtype() == pg.ObjectType_OBJECT_MATVIEW:
		tag = "CREATE MATERIALIZED VIEW"
	case n.GetIsSelectInto():
		tag = "SELECT INTO"
	}
	w.command(tag, ClassDDL)
	w.lock(LockAccessExclusive)
	w.q.created[relKey(n.GetInto().GetRel())] = true
	w.childrenUnder(ActDDL, n, "query")
	w.under(ActSelect, n.GetQuery())
}

func (w *walker) indexStmt(n *pg.IndexStmt) {
	w.command("CREATE INDEX", ClassDDL)
	if n.GetConcurrent() {
		w.lock(LockShareUpdateExclusive)
	} else {
		w.lock(LockShare)
		if !w.q.created[relKey(n.GetRelation())] {
			w.st.Flags |= FlagIndexNotConcurrent
		}
	}
	w.childrenUnder(ActDDL, n)
}

func (w *walker) roleSpec(r *pg.RoleSpec) {
	if r == nil {
		return
	}
	name := r.GetRolename()
	if name == "" {
		name = strings.ToLower(strings.TrimPrefix(r.GetRoletype().String(), "ROLESPEC_"))
	}
	w.object("role", "", name, ActDDL)
}

// visitPersistentSet records the SET inside ALTER ROLE/DATABASE/SYSTEM as settings without
// making the statement a session-state change: the statement's class already covers it.
func (w *walker) visitPersistentSet(s *pg.VariableSetStmt) {
	if s == nil {
		return
	}
	if set, ok := settingOf(s); ok {
		w.st.Settings = append(w.st.Settings, set)
	}
	w.childrenUnder(ActDDL, s)
}

func transactionTag(n *pg.TransactionStmt) string {
	switch n.GetKind() {
	case pg.TransactionStmtKind_TRANS_STMT_BEGIN:
		return "BEGIN"
	case pg.TransactionStmtKind_TRANS_STMT_START:
		return "START TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK:
		return "ROLLBACK"
	case pg.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK"
	case pg.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "TRANSACTION"
}

func hasOption(opts []*pg.Node, name string) bool {
	for _, o := range opts {
		if o.GetDefElem().GetDefname() == name {
			return true
		}
	}
	return false
}
