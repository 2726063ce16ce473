package classify

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/sqlshape"
)

// Classify classifies every statement of a parsed query string. sql must be the text that
// was parsed: statement texts are sliced from it.
func Classify(sql string, res *sqlparse.Result) *Classification {
	c := &Classification{Fingerprint: fmt.Sprintf("%016x", res.Fingerprint)}
	q := queryState{created: map[string]bool{}}
	for _, raw := range res.Tree.GetStmts() {
		st := Statement{Text: stmtText(sql, raw)}
		w := walker{st: &st, q: &q, action: ActSelect}
		w.visit(raw.GetStmt())
		w.finish()
		if st.Command == "" {
			// A statement type the walker accepts but cannot name: treat as unreviewed.
			st.Flags |= FlagUnknownNode
		}
		if blocksWrites(&st) && !q.lockTimeout && !q.onlyCreated(&st) {
			st.Flags |= FlagNoLockTimeout
		}
		c.Statements = append(c.Statements, st)
	}
	c.intConsts = sqlshape.IntConstants(res.Tree)
	return c
}

// Unparsed is the classification of text that could not be parsed safely: one statement
// with FlagParseError, so rules see it and the engine denies it by default.
func Unparsed(sql string, err error) *Classification {
	return &Classification{
		Err:        err,
		Statements: []Statement{{Text: sql, Flags: FlagParseError}},
	}
}

// FunctionCall is the classification of a protocol FunctionCall message: it names a
// function by OID only, so nothing about its effect is known.
func FunctionCall(oid uint32) *Classification {
	return &Classification{Statements: []Statement{{
		Text:    fmt.Sprintf("FunctionCall(oid %d)", oid),
		Command: "FUNCTION CALL",
		Class:   ClassFunction,
		Classes: ClassFunction,
		Flags:   FlagFunctionCallMessage,
	}}}
}

func stmtText(sql string, raw *pg.RawStmt) string {
	start := int(raw.GetStmtLocation())
	if start < 0 || start > len(sql) {
		return sql
	}
	end := len(sql)
	if n := int(raw.GetStmtLen()); n > 0 && start+n <= len(sql) {
		end = start + n
	}
	return strings.TrimSpace(sql[start:end])
}

// queryState carries facts from one statement of a query string to the next: what the
// string itself created, and whether it set lock_timeout before a DDL statement.
type queryState struct {
	created     map[string]bool
	lockTimeout bool
}

// blocksWrites reports whether a statement takes a lock on an existing table that blocks
// writers, so that waiting for it (without lock_timeout) queues every later query behind it.
// Creating a new object locks only that object.
func blocksWrites(st *Statement) bool {
	if st.Lock < LockShare {
		return false
	}
	switch st.Command {
	case "CREATE INDEX", "CREATE TRIGGER", "CREATE RULE":
		return true
	}
	return !strings.HasPrefix(st.Command, "CREATE ") && st.Command != "SELECT INTO"
}

// onlyCreated reports whether every relation the statement names was created earlier in
// the same query string: locking a table nobody else can see yet blocks no one.
func (q *queryState) onlyCreated(st *Statement) bool {
	named := false
	for _, o := range st.Objects {
		if o.Kind != "relation" {
			continue
		}
		if !q.created[o.Schema+"."+o.Name] {
			return false
		}
		named = true
	}
	return named
}
