package classify

import (
	"context"
	"slices"
	"sync"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sluicehq/sluice/internal/policy/sqlparse"
)

var (
	parserOnce sync.Once
	parser     *sqlparse.Parser
	parserErr  error
)

func classifySQL(t *testing.T, sql string) *Classification {
	t.Helper()
	parserOnce.Do(func() { parser, parserErr = sqlparse.New(sqlparse.Options{}) })
	if parserErr != nil {
		t.Fatal(parserErr)
	}
	res, err := parser.Parse(context.Background(), sql)
	if err != nil {
		t.Fatalf("%q: %v", sql, err)
	}
	return Classify(sql, res)
}

// analyzedOnly are pg_query message types that belong to analyzed or planned trees, or are
// not tree nodes at all. A raw parse never yields them; if one appears, it is unknown.
var analyzedOnly = []protoreflect.Name{
	"ParseResult", "ScanResult", "ScanToken", "SummaryResult",
	"TableFunc", "Var", "Param", "Aggref", "WindowFunc", "WindowFuncRunCondition",
	"SubscriptingRef", "FuncExpr", "OpExpr", "DistinctExpr", "NullIfExpr", "ScalarArrayOpExpr",
	"SubPlan", "AlternativeSubPlan", "FieldSelect", "FieldStore", "RelabelType", "CoerceViaIO",
	"ArrayCoerceExpr", "ConvertRowtypeExpr", "CollateExpr", "CaseTestExpr", "ArrayExpr",
	"RowCompareExpr", "JsonConstructorExpr", "JsonExpr", "JsonTablePath", "JsonTablePathScan",
	"JsonTableSiblingJoin", "MergeAction", "CoerceToDomain", "CoerceToDomainValue",
	"NextValueExpr", "InferenceElem", "TargetEntry", "RangeTblRef", "FromExpr",
	"OnConflictExpr", "Query", "RangeTblEntry", "RTEPermissionInfo", "RangeTblFunction",
	"TableSampleClause", "WithCheckOption", "SortGroupClause", "WindowClause", "RowMarkClause",
	"SetOperationStmt", "PLAssignStmt", "InlineCodeBlock", "CallContext",
}

// Every message type of the pinned pg_query is either reviewed or known never to appear in
// a raw tree. Upgrading pg_query with new node types fails here until someone reviews them.
func TestEveryNodeTypeReviewed(t *testing.T) {
	msgs := pg.File_pg_query_proto.Messages()
	for i := range msgs.Len() {
		name := msgs.Get(i).Name()
		inReviewed, inAnalyzed := reviewed[name], slices.Contains(analyzedOnly, name)
		if inReviewed == inAnalyzed {
			t.Errorf("%s: reviewed=%v analyzedOnly=%v; review it and put it in exactly one list", name, inReviewed, inAnalyzed)
		}
	}
	for name := range reviewed {
		if msgs.ByName(name) == nil {
			t.Errorf("reviewed type %s does not exist in pg_query", name)
		}
	}
	for name := range utilities {
		if slices.Contains(handledTypes, name) {
			t.Errorf("%s is both handled and in the utility table", name)
		}
	}
}

// A node the walker has not reviewed, unknown protobuf fields and unknown enum values are
// all reported, however deep they sit.
func TestUnknownNodesAreFlagged(t *testing.T) {
	sql := "SELECT a FROM t WHERE b IN (SELECT c FROM u)"
	base := func() *sqlparse.Result {
		c := classifySQL(t, sql) // warm and check it is clean
		if c.Statements[0].Flags&FlagUnknownNode != 0 {
			t.Fatalf("clean statement flagged: %v", c.Statements[0].Flags)
		}
		res, err := parser.Parse(context.Background(), sql)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	sub := func(res *sqlparse.Result) *pg.SelectStmt {
		return res.Tree.Stmts[0].Stmt.GetSelectStmt().GetWhereClause().GetSubLink().GetSubselect().GetSelectStmt()
	}
	cases := map[string]func(*sqlparse.Result){
		"analyzed node": func(r *sqlparse.Result) {
			sub(r).TargetList = append(sub(r).TargetList, &pg.Node{Node: &pg.Node_Var{Var: &pg.Var{Varno: 1}}})
		},
		"unknown field": func(r *sqlparse.Result) {
			m := sub(r).ProtoReflect()
			m.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 1))
		},
		"unknown enum": func(r *sqlparse.Result) {
			sub(r).LimitOption = pg.LimitOption(99)
		},
	}
	for name, mutate := range cases {
		res := base()
		mutate(res)
		c := Classify(sql, res)
		if c.Statements[0].Flags&FlagUnknownNode == 0 {
			t.Errorf("%s: not flagged", name)
		}
	}
}

func TestClassificationDetails(t *testing.T) {
	type want struct {
		command string
		class   Class
		classes Class
		objects []Object
		funcs   []string
		sets    []Setting
		flags   Flag
		lock    Lock
	}
	cases := map[string]want{
		"WITH d AS (DELETE FROM s.t WHERE id = 1 RETURNING *) SELECT * FROM d": {
			command: "SELECT", class: ClassRead, classes: ClassRead | ClassWrite,
			objects: []Object{{"relation", "", "d", ActSelect}, {"relation", "s", "t", ActDelete}},
			flags:   FlagModifyingCTE, lock: LockRowExclusive,
		},
		"INSERT INTO t SELECT * FROM u ON CONFLICT DO NOTHING": {
			command: "INSERT", class: ClassWrite, classes: ClassRead | ClassWrite,
			objects: []Object{{"relation", "", "t", ActInsert}, {"relation", "", "u", ActSelect}},
			lock:    LockRowExclusive,
		},
		// The VALUES of an INSERT reads nothing (pgaudit: WRITE), a query inside it does.
		"INSERT INTO h (a, t) VALUES (1, CURRENT_TIMESTAMP)": {
			command: "INSERT", class: ClassWrite, classes: ClassWrite,
			objects: []Object{{"relation", "", "h", ActInsert}}, lock: LockRowExclusive,
		},
		"INSERT INTO h (a) VALUES ((SELECT max(a) FROM u))": {
			command: "INSERT", class: ClassWrite, classes: ClassRead | ClassWrite,
			objects: []Object{{"relation", "", "h", ActInsert}, {"relation", "", "u", ActSelect}},
			funcs:   []string{"max"}, lock: LockRowExclusive,
		},
		"CREATE VIEW v AS SELECT lower(x) FROM s.secret": {
			command: "CREATE VIEW", class: ClassDDL, classes: ClassDDL | ClassRead,
			objects: []Object{{"relation", "", "v", ActDDL}, {"relation", "s", "secret", ActSelect}},
			funcs:   []string{"lower"}, lock: LockAccessShare,
		},
		"LOCK TABLE a IN SHARE ROW EXCLUSIVE MODE": {
			command: "LOCK TABLE", class: ClassMisc, classes: ClassMisc,
			objects: []Object{{"relation", "", "a", ActLock}}, lock: LockShareRowExclusive, flags: FlagNoLockTimeout,
		},
		"SELECT set_config('work_mem', '1GB', true)": {
			command: "SELECT", class: ClassRead, classes: ClassRead | ClassMiscSet,
			funcs: []string{"set_config"}, sets: []Setting{{"work_mem", "1GB", true}},
			flags: FlagSessionState, lock: LockAccessShare,
		},
		"SET TIME ZONE 'UTC'": {
			command: "SET", class: ClassMiscSet, classes: ClassMiscSet,
			sets: []Setting{{"timezone", "UTC", true}}, flags: FlagSessionState,
		},
		"VACUUM FULL t": {
			command: "VACUUM", class: ClassMisc, classes: ClassMisc,
			objects: []Object{{"relation", "", "t", ActMaintenance}}, lock: LockAccessExclusive, flags: FlagNoLockTimeout,
		},
		"DROP FUNCTION s.f(int), g()": {
			command: "DROP FUNCTION", class: ClassDDL, classes: ClassDDL,
			objects: []Object{{"function", "s", "f", ActDDL}, {"function", "", "g", ActDDL}},
			lock:    LockAccessExclusive, flags: FlagNoLockTimeout,
		},
		"CREATE TRIGGER tr AFTER UPDATE ON t FOR EACH ROW EXECUTE FUNCTION audit.f()": {
			command: "CREATE TRIGGER", class: ClassDDL, classes: ClassDDL,
			objects: []Object{{"relation", "", "t", ActDDL}}, funcs: []string{"audit.f"},
			flags: FlagOpaqueCode | FlagNoLockTimeout, lock: LockShareRowExclusive,
		},
		"BEGIN ISOLATION LEVEL SERIALIZABLE": {
			command: "BEGIN", class: ClassMisc, classes: ClassMisc, flags: FlagTransactionControl,
		},
	}
	for sql, w := range cases {
		c := classifySQL(t, sql)
		if len(c.Statements) != 1 {
			t.Fatalf("%q: %d statements", sql, len(c.Statements))
		}
		st := c.Statements[0]
		var funcs []string
		for _, f := range st.Functions {
			funcs = append(funcs, f.String())
		}
		if st.Command != w.command || st.Class != w.class || st.Classes != w.classes ||
			!slices.Equal(st.Objects, w.objects) || !slices.Equal(funcs, w.funcs) ||
			!slices.Equal(st.Settings, w.sets) || st.Flags != w.flags || st.Lock != w.lock {
			t.Errorf("%q:\n got  %s %s %s %v %v %v %s %s\n want %s %s %s %v %v %v %s %s", sql,
				st.Command, st.Class, st.Classes, st.Objects, funcs, st.Settings, st.Flags, st.Lock,
				w.command, w.class, w.classes, w.objects, w.funcs, w.sets, w.flags, w.lock)
		}
	}
}

// Statement texts are cut from the query string by the parser's locations, so a statement
// hidden behind a comment or quote is reported with its own text.
func TestStatementTexts(t *testing.T) {
	c := classifySQL(t, "SELECT ';' AS a; /* x; */ DELETE FROM t WHERE id = 1 ;  ")
	var texts []string
	for _, s := range c.Statements {
		texts = append(texts, s.Text)
	}
	want := []string{"SELECT ';' AS a", "/* x; */ DELETE FROM t WHERE id = 1"}
	if !slices.Equal(texts, want) {
		t.Fatalf("got %q, want %q", texts, want)
	}
	if c.Fingerprint == "" || len(c.Fingerprint) != 16 {
		t.Fatalf("fingerprint %q", c.Fingerprint)
	}
}
