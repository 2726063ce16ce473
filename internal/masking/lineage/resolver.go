package lineage

import "context"

// Resolver tells the analysis what a relation name refers to and which of its columns are
// sensitive.
type Resolver interface {
	// Relations returns the relations (tables, views, materialized views, foreign tables)
	// that a name in a statement may refer to: the one in schema, or when schema is empty
	// every relation of that name in any schema, so that the answer does not depend on a
	// search_path the session may have changed. None found is not an error: the relation
	// may be one the session created and has not committed.
	Relations(ctx context.Context, schema, name string) ([]*Relation, error)
	// Function describes the functions called name (in schema, or any schema when empty).
	Function(ctx context.Context, schema, name string) (Func, error)
}

// Func is what the analysis needs to know of the functions a name may call.
type Func struct {
	// Body is what a result may carry besides what the arguments carry: values the
	// function's body reads from tables.
	Body Taint
	// Known is false when no such function exists (yet).
	Known bool
	// Builtin is true when every function of that name is a built-in (pg_catalog) one, so
	// that its documented behaviour can be relied on.
	Builtin bool
}

// Relation is a relation as the analysis sees it.
type Relation struct {
	Schema, Name string
	// Columns in attribute-number order, dropped columns left out.
	Columns []Column
}

// Column is one column of a Relation.
type Column struct {
	Name string
	// Taint of the column's values: Direct for a column a rule masks (or a view column
	// that passes one through), Derived for a view or generated column computed from one.
	Taint Taint
	// Type and Typmod of the column, for checking that a strategy can produce a valid value.
	Type   uint32
	Typmod int32
	// Generated columns are left out of COPY table TO.
	Generated bool
}
