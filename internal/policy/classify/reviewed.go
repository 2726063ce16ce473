package classify

import "google.golang.org/protobuf/reflect/protoreflect"

// inertTypes are the raw-parse-tree message types reviewed as carrying no policy meaning of
// their own: expressions, clauses and options whose children are walked generically.
var inertTypes = []protoreflect.Name{
	"Node", "Integer", "Float", "Boolean", "String", "BitString", "List", "OidList", "IntList",
	"A_Const", "Alias", "IntoClause", "GroupingFunc", "MergeSupportFunc", "NamedArgExpr",
	"BoolExpr", "SubLink", "CaseExpr", "CaseWhen", "RowExpr", "CoalesceExpr", "MinMaxExpr",
	"SQLValueFunction", "XmlExpr", "NullTest", "BooleanTest", "SetToDefault", "CurrentOfExpr",
	"JoinExpr", "TypeName", "ColumnRef", "ParamRef", "A_Expr", "TypeCast", "CollateClause",
	"A_Star", "A_Indices", "A_Indirection", "A_ArrayExpr", "ResTarget", "MultiAssignRef",
	"SortBy", "WindowDef", "RangeSubselect", "RangeFunction", "RangeTableFunc",
	"RangeTableFuncCol", "RangeTableSample", "ColumnDef", "TableLikeClause", "IndexElem",
	"DefElem", "LockingClause", "XmlSerialize", "PartitionElem", "PartitionSpec",
	"PartitionBoundSpec", "PartitionRangeDatum", "SinglePartitionSpec", "PartitionCmd",
	"GroupingSet", "WithClause", "InferClause", "OnConflictClause", "CTESearchClause",
	"CTECycleClause", "MergeWhenClause", "TriggerTransition",
	"JsonFormat", "JsonReturning", "JsonValueExpr", "JsonIsPredicate", "JsonBehavior",
	"JsonOutput", "JsonArgument", "JsonFuncExpr", "JsonTablePathSpec", "JsonTable",
	"JsonTableColumn", "JsonKeyValue", "JsonParseExpr", "JsonScalarExpr", "JsonSerializeExpr",
	"JsonObjectConstructor", "JsonArrayConstructor", "JsonArrayQueryConstructor",
	"JsonAggConstructor", "JsonObjectAgg", "JsonArrayAgg",
	"RawStmt", "ReturnStmt", "ReplicaIdentityStmt", "AlterTableCmd", "ObjectWithArgs",
	"AccessPriv", "Constraint", "CreateOpClassItem", "StatsElem", "FunctionParameter",
	"VacuumRelation", "PublicationTable", "PublicationObjSpec",
}

// handledTypes are the message types with a case in walker.handle.
var handledTypes = []protoreflect.Name{
	"RangeVar", "FuncCall", "RoleSpec", "CommonTableExpr",
	"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CopyStmt",
	"TruncateStmt", "LockStmt", "VariableSetStmt", "TransactionStmt", "DiscardStmt", "DoStmt",
	"CallStmt", "ExplainStmt", "PrepareStmt", "DeclareCursorStmt", "CreateStmt",
	"CreateTableAsStmt", "IndexStmt", "AlterTableStmt", "RenameStmt", "DropStmt",
	"CreateFunctionStmt", "CreateTrigStmt", "RuleStmt", "CreateEventTrigStmt", "VacuumStmt",
	"CreateTableSpaceStmt", "AlterRoleSetStmt", "AlterDatabaseSetStmt", "AlterSystemStmt",
}

// reviewed is every message type the walker accepts. Anything else in a tree (a type added
// by a newer pg_query, or an analyzed-tree type a raw parse never yields) is unknown.
var reviewed = func() map[protoreflect.Name]bool {
	m := map[protoreflect.Name]bool{}
	for _, n := range inertTypes {
		m[n] = true
	}
	for _, n := range handledTypes {
		m[n] = true
	}
	for n := range utilities {
		m[n] = true
	}
	return m
}()
