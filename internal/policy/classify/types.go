package classify

import (
	"fmt"
	"math/bits"
	"strings"
)

// Class is a pgaudit audit class. Rules match on classes because auditors already think in
// them.
type Class uint8

// The classes, as pgaudit defines them.
const (
	ClassRead     Class = 1 << iota // SELECT, COPY TO
	ClassWrite                      // INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM
	ClassFunction                   // DO, CALL, FunctionCall messages
	ClassRole                       // GRANT, REVOKE, roles, ownership and default privileges
	ClassDDL                        // every other schema or server change
	ClassMisc                       // DISCARD, FETCH, CHECKPOINT, VACUUM, LOCK, transaction control...
	ClassMiscSet                    // SET, RESET, set_config()
)

var classNames = []string{"READ", "WRITE", "FUNCTION", "ROLE", "DDL", "MISC", "MISC_SET"}

// ParseClass reads a class name as written in rules (case-insensitive).
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if strings.EqualFold(s, n) {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown class %q (want one of %s)", s, strings.Join(classNames, ", "))
}

// Names lists the classes in the set.
func (c Class) Names() []string { return setNames(uint64(c), classNames) }

// String joins the class names, for logs.
func (c Class) String() string { return strings.Join(c.Names(), ",") }

// Flag marks a property of a statement that rules care about beyond its objects.
type Flag uint64

// The flags. The hazard flags (see Hazards) are denied unless a rule names them.
const (
	// FlagParseError: the text was not parsed (syntax error, too large, parser crash...).
	FlagParseError Flag = 1 << iota
	// FlagUnknownNode: the tree holds something this classifier has not reviewed.
	FlagUnknownNode
	// FlagOpaqueCode: code whose effect is not visible here: DO, function and procedure
	// bodies, rules, triggers, event triggers.
	FlagOpaqueCode
	// FlagDynamicSQL: SQL text or object names handed to a function that executes or reads
	// them (dblink, query_to_xml, ...), or a setting whose name is computed.
	FlagDynamicSQL
	// FlagFunctionCallMessage: a protocol FunctionCall message, which names only an OID.
	FlagFunctionCallMessage
	// FlagModifyingCTE: INSERT/UPDATE/DELETE/MERGE inside WITH.
	FlagModifyingCTE
	// FlagUnboundedDML: UPDATE or DELETE without WHERE, or with a WHERE that references no
	// column (WHERE true, WHERE 1=1).
	FlagUnboundedDML
	// FlagSessionState: the statement changes session state (SET, RESET, DISCARD,
	// set_config, writes to pg_settings).
	FlagSessionState
	// FlagTransactionControl: BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION...
	FlagTransactionControl
	// FlagFileAccess: the server reads or writes its own files (COPY to/from a file,
	// CREATE TABLESPACE).
	FlagFileAccess
	// FlagProgramExecution: the server runs a program (COPY ... PROGRAM).
	FlagProgramExecution
	// FlagIndexNotConcurrent: CREATE INDEX without CONCURRENTLY on an existing table.
	FlagIndexNotConcurrent
	// FlagNotNullWithoutDefault: ADD COLUMN ... NOT NULL without a DEFAULT.
	FlagNotNullWithoutDefault
	// FlagSetNotNull: ALTER COLUMN ... SET NOT NULL (scans the table under an exclusive lock).
	FlagSetNotNull
	// FlagVolatileDefault: ADD COLUMN with a default that may rewrite the table.
	FlagVolatileDefault
	// FlagValidatingConstraint: a constraint added without NOT VALID (or a key without
	// USING INDEX), validated under a strong lock.
	FlagValidatingConstraint
	// FlagColumnTypeChange: ALTER COLUMN ... TYPE.
	FlagColumnTypeChange
	// FlagRename: any RENAME.
	FlagRename
	// FlagDropColumn: ALTER TABLE ... DROP COLUMN.
	FlagDropColumn
	// FlagNoLockTimeout: a statement that takes a lock blocking writes on an existing table
	// (ALTER, DROP, CREATE INDEX, LOCK, VACUUM FULL...) while no lock_timeout is set in the
	// session or earlier in the same query string.
	FlagNoLockTimeout
)

var flagNames = []string{
	"parse_error", "unknown_node", "opaque_code", "dynamic_sql", "function_call_message",
	"modifying_cte", "unbounded_dml", "session_state", "transaction_control", "file_access",
	"program_execution", "index_not_concurrent", "not_null_without_default", "set_not_null",
	"volatile_default", "validating_constraint", "column_type_change", "rename", "drop_column",
	"no_lock_timeout",
}

// Hazards are the flags of statements the classifier cannot vouch for. An allow or warn rule
// lets such a statement through only if it names every hazard flag the statement carries.
const Hazards = FlagParseError | FlagUnknownNode | FlagOpaqueCode | FlagDynamicSQL | FlagFunctionCallMessage

// ParseFlag reads a flag name as written in rules.
func ParseFlag(s string) (Flag, error) {
	for i, n := range flagNames {
		if s == n {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("unknown flag %q (want one of %s)", s, strings.Join(flagNames, ", "))
}

// Names lists the flags in the set.
func (f Flag) Names() []string { return setNames(uint64(f), flagNames) }

// String joins the flag names, for logs.
func (f Flag) String() string { return strings.Join(f.Names(), ",") }

func setNames(v uint64, names []string) []string {
	out := make([]string, 0, bits.OnesCount64(v))
	for i, n := range names {
		if v&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// Lock is a PostgreSQL table lock mode, ordered by strength.
type Lock uint8

// The lock modes (numbered as in PostgreSQL's lockdefs.h).
const (
	LockNone Lock = iota
	LockAccessShare
	LockRowShare
	LockRowExclusive
	LockShareUpdateExclusive
	LockShare
	LockShareRowExclusive
	LockExclusive
	LockAccessExclusive
)

var lockNames = []string{"none", "access_share", "row_share", "row_exclusive", "share_update_exclusive", "share", "share_row_exclusive", "exclusive", "access_exclusive"}

// ParseLock reads a lock name as written in rules (access_exclusive, share, ...).
func ParseLock(s string) (Lock, error) {
	for i, n := range lockNames {
		if strings.EqualFold(s, n) {
			return Lock(i), nil
		}
	}
	return 0, fmt.Errorf("unknown lock %q (want one of %s)", s, strings.Join(lockNames[1:], ", "))
}

// String is the lock's name as written in rules.
func (l Lock) String() string {
	if int(l) < len(lockNames) {
		return lockNames[l]
	}
	return fmt.Sprintf("lock(%d)", uint8(l))
}

// Action is what a statement does to an object.
type Action string

// The actions.
const (
	ActSelect      Action = "select"
	ActInsert      Action = "insert"
	ActUpdate      Action = "update"
	ActDelete      Action = "delete"
	ActTruncate    Action = "truncate"
	ActLock        Action = "lock"
	ActDDL         Action = "ddl"
	ActMaintenance Action = "maintenance" // VACUUM, ANALYZE, CLUSTER, REINDEX
)

// Actions lists every action, for validating rules.
var Actions = []Action{ActSelect, ActInsert, ActUpdate, ActDelete, ActTruncate, ActLock, ActDDL, ActMaintenance}

// Object is a named database object a statement touches. Schema is empty when the name was
// written unqualified: which schema it resolves to depends on search_path, so rules treat it
// as "any schema" when denying and "unknown" when allowing.
type Object struct {
	Kind   string // relation, function, schema, role, database, type, ... (lower case)
	Schema string
	Name   string
	Action Action
}

// String is the name as written: schema-qualified when it was.
func (o Object) String() string {
	if o.Schema != "" {
		return o.Schema + "." + o.Name
	}
	return o.Name
}

// Function is a function called or bound (trigger function) by a statement.
type Function struct {
	Schema string // empty when unqualified
	Name   string
}

// String is the name as written: schema-qualified when it was.
func (f Function) String() string {
	if f.Schema != "" {
		return f.Schema + "." + f.Name
	}
	return f.Name
}

// Setting is a run-time parameter a statement (or a startup packet) sets. Name is lower case
// and empty when it cannot be known statically (set_config with a computed name, a write to
// pg_settings); rules that deny settings match such an unknown name.
type Setting struct {
	Name string
	// Value as written; Known is false when it is computed.
	Value string
	Known bool
}

// Statement is the classification of one statement of a query string.
type Statement struct {
	// Text is the statement's own text, sliced from the query string.
	Text string
	// Command is PostgreSQL's command tag: SELECT, INSERT, CREATE TABLE, DROP INDEX, SET...
	// Empty for text that was not parsed.
	Command string
	// Class is the statement's own audit class; Classes adds the classes of what it nests
	// and touches (a SELECT with a modifying CTE is READ and WRITE).
	Class     Class
	Classes   Class
	Objects   []Object
	Functions []Function
	Settings  []Setting
	Flags     Flag
	Lock      Lock
}

// Classification is the result for a whole query string.
type Classification struct {
	Statements []Statement
	// Fingerprint is pg_query's fingerprint of the string (hex), empty when not parsed.
	Fingerprint string
	// Err says why the text was not parsed; Statements then holds one statement carrying
	// FlagParseError and the whole text.
	Err error
	// intConsts are the sorted offsets of the integer constants the tree holds as values.
	intConsts []int32
}

// ValueFree reports whether the classification would be the same for every query string
// that differs from this one only in the values of its integer constants (see also
// IntConstants). The only classifications that read constant values are those of
// settings (SET, set_config), and a text that did not parse says nothing about its tokens.
// The policy engine reuses a decision for statements of the same shape only when this
// holds, so any new reading of a constant's value must make it false.
func (c *Classification) ValueFree() bool {
	if c.Err != nil {
		return false
	}
	for _, st := range c.Statements {
		if len(st.Settings) > 0 || st.Flags&FlagSessionState != 0 {
			return false
		}
	}
	return true
}

// IntConstants are the sorted offsets of the integer constant values in the parsed tree
// (sqlshape.IntConstants): the policy engine's check that statements of one shape parse
// alike.
func (c *Classification) IntConstants() []int32 { return c.intConsts }
