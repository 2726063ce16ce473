package lineage

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// statement analyses one top-level statement.
func (a *analyzer) statement(n *pg.Node) {
	switch v := n.GetNode().(type) {
	case *pg.Node_SelectStmt:
		outs, _ := a.query(nil, v.SelectStmt)
		if v.SelectStmt.GetIntoClause() == nil {
			a.outputs(KindQuery, outs)
		}
	case *pg.Node_InsertStmt, *pg.Node_UpdateStmt, *pg.Node_DeleteStmt, *pg.Node_MergeStmt:
		outs, _ := a.nested(nil, n)
		if len(outs) > 0 {
			a.outputs(KindQuery, outs)
		}
	case *pg.Node_CopyStmt:
		a.copyStmt(v.CopyStmt)
	case *pg.Node_DeclareCursorStmt:
		outs, _ := a.nested(nil, v.DeclareCursorStmt.GetQuery())
		a.outputs(KindDeclare, outs)
		a.res.Name = v.DeclareCursorStmt.GetPortalname()
	case *pg.Node_FetchStmt:
		if !v.FetchStmt.GetIsmove() {
			a.res.Kind, a.res.Name = KindFetch, v.FetchStmt.GetPortalname()
		}
	case *pg.Node_ClosePortalStmt:
		a.res.Kind, a.res.Name = KindClose, v.ClosePortalStmt.GetPortalname()
	case *pg.Node_PrepareStmt:
		outs, _ := a.nested(nil, v.PrepareStmt.GetQuery())
		a.outputs(KindPrepare, outs)
		a.res.Name = v.PrepareStmt.GetName()
	case *pg.Node_ExecuteStmt:
		a.predicateExprs(nil, v.ExecuteStmt.GetParams())
		a.res.Kind, a.res.Name = KindExecute, v.ExecuteStmt.GetName()
	case *pg.Node_DeallocateStmt:
		a.res.Kind, a.res.Name = KindDeallocate, v.DeallocateStmt.GetName()
	case *pg.Node_ExplainStmt:
		// EXPLAIN shows plans, not values; with ANALYZE it runs the statement, whose
		// copies and refusals count.
		a.statement(v.ExplainStmt.GetQuery())
		a.res.Kind, a.res.Name, a.res.Outputs, a.res.CopyOut = KindOther, "", nil, nil
	case *pg.Node_CreateTableAsStmt:
		a.createTableAs(v.CreateTableAsStmt)
	case *pg.Node_ViewStmt:
		a.view(v.ViewStmt)
	case *pg.Node_CallStmt:
		// A procedure's output arguments come back as a row with no origin.
		t := a.expr(nil, &pg.Node{Node: &pg.Node_FuncCall{FuncCall: v.CallStmt.GetFunccall()}}).Taint
		a.outputs(KindQuery, []Output{{Name: "?column?", Taint: t.Derive(), guessed: true}})
	case *pg.Node_DoStmt, *pg.Node_CreateFunctionStmt, *pg.Node_RuleStmt, *pg.Node_CreateTrigStmt,
		*pg.Node_CreateEventTrigStmt:
		a.refuse("code whose effect cannot be inspected (DO, CREATE FUNCTION/PROCEDURE/RULE/TRIGGER)")
	case *pg.Node_RenameStmt:
		a.rename(v.RenameStmt)
	case *pg.Node_AlterObjectSchemaStmt:
		if rv := v.AlterObjectSchemaStmt.GetRelation(); rv != nil {
			a.moves(rv)
		}
	case *pg.Node_AlterTableStmt:
		a.alterTable(v.AlterTableStmt)
	case *pg.Node_VariableSetStmt, *pg.Node_VariableShowStmt, *pg.Node_TransactionStmt,
		*pg.Node_NotifyStmt, *pg.Node_ListenStmt, *pg.Node_UnlistenStmt, *pg.Node_DiscardStmt,
		*pg.Node_LockStmt, *pg.Node_CheckPointStmt, *pg.Node_VacuumStmt, *pg.Node_LoadStmt,
		*pg.Node_ConstraintsSetStmt, *pg.Node_TruncateStmt, *pg.Node_RefreshMatViewStmt:
	default:
		a.nestedQueries(n)
	}
	if isDDL(n) {
		a.res.DDL = true
	}
}

// nestedQueries analyses, for what they read and filter on, the queries and expressions
// a statement this analysis has no handler for contains (CREATE POLICY ... USING, CREATE
// INDEX ... WHERE): such statements return no rows.
func (a *analyzer) nestedQueries(msg proto.Message) {
	if msg == nil || !a.enter() {
		return
	}
	defer a.leave()
	if n, ok := msg.(*pg.Node); ok {
		if sel := n.GetSelectStmt(); sel != nil {
			a.query(nil, sel)
			return
		}
	}
	msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := range l.Len() {
				a.nestedQueries(l.Get(i).Message().Interface())
			}
		} else if !fd.IsMap() {
			a.nestedQueries(v.Message().Interface())
		}
		return true
	})
}

// isDDL reports whether a statement changes the catalog (or may), so that what was cached
// about relations must be forgotten once it has run.
func isDDL(n *pg.Node) bool {
	switch n.GetNode().(type) {
	case *pg.Node_SelectStmt:
		return n.GetSelectStmt().GetIntoClause() != nil
	case *pg.Node_InsertStmt, *pg.Node_UpdateStmt, *pg.Node_DeleteStmt, *pg.Node_MergeStmt,
		*pg.Node_CopyStmt, *pg.Node_DeclareCursorStmt, *pg.Node_FetchStmt, *pg.Node_ClosePortalStmt,
		*pg.Node_PrepareStmt, *pg.Node_ExecuteStmt, *pg.Node_DeallocateStmt, *pg.Node_ExplainStmt,
		*pg.Node_CallStmt, *pg.Node_VariableSetStmt, *pg.Node_VariableShowStmt,
		*pg.Node_TransactionStmt, *pg.Node_NotifyStmt, *pg.Node_ListenStmt, *pg.Node_UnlistenStmt,
		*pg.Node_DiscardStmt, *pg.Node_LockStmt, *pg.Node_CheckPointStmt, *pg.Node_VacuumStmt,
		*pg.Node_ConstraintsSetStmt, *pg.Node_TruncateStmt, *pg.Node_RefreshMatViewStmt:
		return false
	}
	return true
}
