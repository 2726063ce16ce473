package lineage

// Kind says what a statement does with respect to results.
type Kind uint8

// Statement kinds whose results or names the masking session must follow.
const (
	// KindOther returns no rows the analysis knows of (DDL, SET, NOTIFY, ...).
	KindOther Kind = iota
	// KindQuery returns rows described by Outputs: SELECT, VALUES, TABLE, and INSERT,
	// UPDATE, DELETE or MERGE with RETURNING.
	KindQuery
	// KindCopyOut is COPY ... TO STDOUT; CopyOut holds the format and Outputs the columns.
	KindCopyOut
	// KindDeclare declares the SQL cursor Name over a query described by Outputs.
	KindDeclare
	// KindFetch fetches from (or moves) the SQL cursor Name.
	KindFetch
	// KindClose closes the SQL cursor Name (empty Name: CLOSE ALL).
	KindClose
	// KindPrepare prepares the SQL statement Name, whose query Outputs describe.
	KindPrepare
	// KindExecute executes the SQL prepared statement Name.
	KindExecute
	// KindDeallocate forgets the SQL prepared statement Name (empty: ALL).
	KindDeallocate
)

// Result is the analysis of one statement.
type Result struct {
	Kind Kind
	// Name of the cursor or prepared statement for the kinds that name one.
	Name string
	// Outputs are the result columns, in order, for the kinds that return or describe rows.
	Outputs []Output
	// Predicates is what the statement filters, joins, groups or sorts on: a masked column
	// there lets the client infer values it cannot see.
	Predicates Taint
	// Reads is every taint the statement touches anywhere.
	Reads Taint
	// Copies are values written where they persist.
	Copies []Copy
	// Moves are the rules of columns whose relation the statement renames, moves to
	// another schema, detaches from the parent whose name a rule matches, or whose column it
	// renames: masking by name would no longer find them.
	Moves Taint
	// MovesSchema names schemas the statement renames.
	MovesSchema []string
	// Refusals explain why the statement cannot be followed at all: code whose effect
	// cannot be seen (DO, CREATE FUNCTION), functions that read table data or run SQL given
	// as text, statements the analysis does not know.
	Refusals []string
	// CopyOut describes COPY TO STDOUT.
	CopyOut *CopyOut
	// CopyFromExecute names a prepared statement whose results a CREATE TABLE AS EXECUTE
	// copies into a new table; the session knows that statement's outputs.
	CopyFromExecute string
	// DDL statements change the catalog: what was learned about relations is stale after.
	DDL bool
	// Positional: an ORDER BY item named an output column by its number, so the result
	// depends on that integer's value; statements differing only in integers do not share
	// it (internal/sqlshape).
	Positional bool
	// Unresolved: a relation or function name referred to nothing the catalog knows (yet).
	// The analysis took it as clean, which holds only until it is created, so the result
	// must not be cached.
	Unresolved bool
}

// Output is one result column.
type Output struct {
	Name  string
	Taint Taint
	// Plain columns are column references passed through (PostgreSQL reports an origin
	// for them); others are computed.
	Plain bool
	// Type and Typmod, known for plain columns of known relations (zero otherwise).
	Type   uint32
	Typmod int32
	// guessed: the name is this analysis's guess at PostgreSQL's default column name.
	guessed bool
}

// Copy is a value stored somewhere it persists.
type Copy struct {
	// Schema, Table and Column name the destination ("" when unknown).
	Schema, Table, Column string
	// Target is the taint of the destination column as it exists (rules masking it in every
	// relation the name may refer to); Known is false for a relation the statement creates,
	// whose masking follows from its name alone.
	Target Taint
	Known  bool
	// View destinations are views: their definition is not visible to the masking
	// catalog until committed, so sensitive values may never flow into one.
	View bool
	// Source is what the stored value carries.
	Source Taint
}

// CopyOut is the shape of the rows COPY TO STDOUT sends.
type CopyOut struct {
	// Format is "text", "csv" or "binary".
	Format string
	// Delimiter, Quote and Escape bytes and the Null marker, as the options set them or
	// PostgreSQL's defaults for the format.
	Delimiter, Quote, Escape byte
	Null                     string
	// Header: the first row holds column names.
	Header bool
	// Encoding is set when the statement asks for an encoding other than the client's.
	Encoding string
}
