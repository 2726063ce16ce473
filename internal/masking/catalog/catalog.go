// Package catalog answers masking's questions about a database's catalog — what a table
// OID and attribute number in a RowDescription are, what a name refers to, how a view is
// defined, what a type is — over a side connection of the agent's own, with a pinned empty
// search_path, caching the answers until DDL (or a time limit) makes them stale.
package catalog

import "context"

// Catalog is what masking needs to know about one target database.
type Catalog interface {
	// Named returns the OIDs of the relations (tables, views, materialized views,
	// partitioned and foreign tables) called name in schema, or in any schema when schema
	// is empty.
	Named(ctx context.Context, schema, name string) ([]uint32, error)
	// Relation describes the relation with the OID; nil (and no error) if there is none.
	Relation(ctx context.Context, oid uint32) (*Relation, error)
	// Functions describes the functions (and procedures and aggregates) called name in
	// schema, or in any schema when schema is empty.
	Functions(ctx context.Context, schema, name string) ([]Function, error)
	// Type describes the type with the OID; nil (and no error) if there is none.
	Type(ctx context.Context, oid uint32) (*Type, error)
	// Cast converts value to the type, as the server's input function reads it, and
	// returns its text and binary encodings (binary nil if the type has none). An error
	// means the value is not valid for the type.
	Cast(ctx context.Context, value string, typ uint32, typmod int32) (text, binary []byte, err error)
	// Invalidate forgets everything learned: DDL passed through.
	Invalidate()
	// Generation changes on every Invalidate (and when answers expire), so that what
	// callers derived from the catalog can be dropped with it.
	Generation() uint64
}

// Relation is a relation's definition, as far as masking needs it.
type Relation struct {
	OID          uint32
	Schema, Name string
	// Kind is pg_class.relkind: 'r' table, 'p' partitioned table, 'v' view,
	// 'm' materialized view, 'f' foreign table.
	Kind byte
	// Columns in attribute-number order, dropped columns left out.
	Columns []Column
	// Parents and Children are the direct inheritance (and partitioning) links.
	Parents, Children []uint32
	// ViewDef is the definition of a view or materialized view, as pg_get_viewdef prints
	// it with an empty search_path: every relation outside pg_catalog schema-qualified.
	ViewDef string
	// Depends lists the columns a view's definition references (pg_depend of its rewrite
	// rule): Attnum 0 means the whole relation.
	Depends []ColumnRef
}

// Column is one column of a Relation.
type Column struct {
	Attnum    int16
	Name      string
	Type      uint32
	Typmod    int32
	Generated bool
	// GeneratedFrom lists the columns of the same relation a generated column's expression
	// references.
	GeneratedFrom []int16
}

// ColumnRef names a column by relation OID and attribute number.
type ColumnRef struct {
	Rel    uint32
	Attnum int16
}

// Type is a type's definition, as far as masking needs it.
type Type struct {
	OID  uint32
	Name string
	// Category is pg_type.typcategory ('S' string types, 'N' numeric, 'A' arrays, ...).
	Category byte
	// Base is the base type of a domain, 0 otherwise.
	Base uint32
	// Elem is the element type of an array, 0 otherwise.
	Elem uint32
}

// Function is a function's definition, as far as masking needs it: what its body may read.
type Function struct {
	OID    uint32
	Schema string
	// Language is the language's name: internal, c, sql, plpgsql, ...
	Language string
	// Source is the body of a function written as a string (prosrc), which for SQL
	// functions is SQL text.
	Source string
	// Atomic functions have a SQL-standard body (BEGIN ATOMIC or RETURN), parsed when they
	// were created: the server records what it reads, in Depends.
	Atomic  bool
	Depends []ColumnRef
}
