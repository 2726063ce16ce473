package catalog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

const namedSQL = `SELECT c.oid FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relname = $1::text AND ($2::text = '' OR n.nspname = $2::text)
	AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
	ORDER BY c.oid`

// Named returns the OIDs of the relations called name in schema (any schema if empty).
func (c *Conn) Named(ctx context.Context, schema, name string) ([]uint32, error) {
	key := [2]string{schema, name}
	if oids, ok := get(&c.cache, func(c *cache) map[[2]string][]uint32 { return c.names }, key); ok {
		return oids, nil
	}
	rows, err := c.query(ctx, namedSQL, name, schema)
	if err != nil {
		return nil, err
	}
	oids := make([]uint32, 0, len(rows))
	for _, r := range rows {
		oid, err := parseOID(r[0])
		if err != nil {
			return nil, err
		}
		oids = append(oids, oid)
	}
	if len(oids) > 0 {
		put(&c.cache, func(c *cache) map[[2]string][]uint32 { return c.names }, key, oids)
	}
	return oids, nil
}

const relationSQL = `SELECT n.nspname, c.relname, c.relkind,
	CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) ELSE '' END,
	pg_catalog.array_to_string(ARRAY(SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid ORDER BY 1), ','),
	pg_catalog.array_to_string(ARRAY(SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid ORDER BY 1), ','),
	pg_catalog.array_to_string(ARRAY(
		SELECT DISTINCT d.refobjid::text || ':' || d.refobjsubid FROM pg_catalog.pg_rewrite r
		JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
		WHERE r.ev_class = c.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> c.oid), ',')
	FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE c.oid = $1::pg_catalog.oid`

const columnsSQL = `SELECT a.attnum, a.attname, a.atttypid, a.atttypmod, a.attgenerated <> '',
	pg_catalog.array_to_string(ARRAY(
		SELECT d.refobjsubid FROM pg_catalog.pg_attrdef ad
		JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
		WHERE ad.adrelid = a.attrelid AND ad.adnum = a.attnum AND a.attgenerated <> ''
		AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = a.attrelid
		AND d.refobjsubid > 0 AND d.refobjsubid <> a.attnum
		ORDER BY 1), ',')
	FROM pg_catalog.pg_attribute a
	WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped
	ORDER BY a.attnum`

// Relation describes the relation with the OID.
func (c *Conn) Relation(ctx context.Context, oid uint32) (*Relation, error) {
	if r, ok := get(&c.cache, func(c *cache) map[uint32]*Relation { return c.rels }, oid); ok {
		return r, nil
	}
	arg := strconv.FormatUint(uint64(oid), 10)
	rows, err := c.query(ctx, relationSQL, arg)
	if err != nil {
		return nil, err
	}
	var rel *Relation
	if len(rows) == 1 {
		if rel, err = relationRow(oid, rows[0]); err != nil {
			return nil, err
		}
		cols, err := c.query(ctx, columnsSQL, arg)
		if err != nil {
			return nil, err
		}
		for _, row := range cols {
			col, err := columnRow(row)
			if err != nil {
				return nil, err
			}
			rel.Columns = append(rel.Columns, col)
		}
	}
	if rel != nil {
		put(&c.cache, func(c *cache) map[uint32]*Relation { return c.rels }, oid, rel)
	}
	return rel, nil
}

func relationRow(oid uint32, r [][]byte) (*Relation, error) {
	rel := &Relation{OID: oid, Schema: string(r[0]), Name: string(r[1]), ViewDef: string(r[3])}
	if len(r[2]) != 1 {
		return nil, fmt.Errorf("catalog: relkind %q", r[2])
	}
	rel.Kind = r[2][0]
	var err error
	if rel.Parents, err = oidList(r[4]); err != nil {
		return nil, err
	}
	if rel.Children, err = oidList(r[5]); err != nil {
		return nil, err
	}
	if rel.Depends, err = columnRefs(r[6]); err != nil {
		return nil, err
	}
	return rel, nil
}

func columnRow(r [][]byte) (Column, error) {
	num, err := strconv.ParseInt(string(r[0]), 10, 16)
	if err != nil {
		return Column{}, fmt.Errorf("catalog: attnum %q", r[0])
	}
	typ, err := parseOID(r[2])
	if err != nil {
		return Column{}, err
	}
	mod, err := strconv.ParseInt(string(r[3]), 10, 32)
	if err != nil {
		return Column{}, fmt.Errorf("catalog: atttypmod %q", r[3])
	}
	col := Column{Attnum: int16(num), Name: string(r[1]), Type: typ, Typmod: int32(mod), Generated: string(r[4]) == "t"}
	for _, s := range splitList(r[5]) {
		n, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return Column{}, fmt.Errorf("catalog: generated column dependency %q", s)
		}
		col.GeneratedFrom = append(col.GeneratedFrom, int16(n))
	}
	return col, nil
}

const typeSQL = `SELECT t.typname, t.typcategory, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE 0 END, t.typelem
	FROM pg_catalog.pg_type t WHERE t.oid = $1::pg_catalog.oid`

// Type describes the type with the OID.
func (c *Conn) Type(ctx context.Context, oid uint32) (*Type, error) {
	if t, ok := get(&c.cache, func(c *cache) map[uint32]*Type { return c.types }, oid); ok {
		return t, nil
	}
	rows, err := c.query(ctx, typeSQL, strconv.FormatUint(uint64(oid), 10))
	if err != nil {
		return nil, err
	}
	var t *Type
	if len(rows) == 1 {
		r := rows[0]
		t = &Type{OID: oid, Name: string(r[0])}
		if len(r[1]) == 1 {
			t.Category = r[1][0]
		}
		if t.Base, err = parseOID(r[2]); err != nil {
			return nil, err
		}
		if t.Elem, err = parseOID(r[3]); err != nil {
			return nil, err
		}
	}
	if t != nil {
		put(&c.cache, func(c *cache) map[uint32]*Type { return c.types }, oid, t)
	}
	return t, nil
}

// Cast converts value to the type through the server's own input and output functions.
// The type is spelled by format_type, which quotes and qualifies it, so the text spliced
// into the second query is the server's, never the caller's.
func (c *Conn) Cast(ctx context.Context, value string, typ uint32, typmod int32) ([]byte, []byte, error) {
	key := castKey{value, typ, typmod}
	if v, ok := get(&c.cache, func(c *cache) map[castKey]castValue { return c.casts }, key); ok {
		return v.text, v.binary, v.err
	}
	rows, err := c.query(ctx, `SELECT pg_catalog.format_type($1::pg_catalog.oid, $2::pg_catalog.int4)`,
		strconv.FormatUint(uint64(typ), 10), strconv.FormatInt(int64(typmod), 10))
	if err != nil {
		return nil, nil, err
	}
	if len(rows) != 1 || rows[0][0] == nil {
		return nil, nil, fmt.Errorf("catalog: no type with OID %d", typ)
	}
	v := c.cast(ctx, value, string(rows[0][0]))
	put(&c.cache, func(c *cache) map[castKey]castValue { return c.casts }, key, v)
	return v.text, v.binary, v.err
}

func (c *Conn) cast(ctx context.Context, value, typeName string) castValue {
	sql := `SELECT $1::pg_catalog.text::` + typeName
	text, err := c.castQuery(ctx, sql, value, 0)
	if err != nil {
		return castValue{err: fmt.Errorf("%q is not a valid %s: %w", value, typeName, err)}
	}
	// A type without a binary output function has no binary encoding to offer.
	binary, _ := c.castQuery(ctx, sql, value, 1)
	return castValue{text: text, binary: binary}
}

func (c *Conn) castQuery(ctx context.Context, sql, value string, format int16) ([]byte, error) {
	rows, err := c.exec(ctx, sql, []int16{format}, []string{value})
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 || rows[0][0] == nil {
		return nil, fmt.Errorf("no value")
	}
	return rows[0][0], nil
}

func parseOID(b []byte) (uint32, error) {
	n, err := strconv.ParseUint(string(b), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("catalog: OID %q", b)
	}
	return uint32(n), nil
}

func oidList(b []byte) ([]uint32, error) {
	var out []uint32
	for _, s := range splitList(b) {
		o, err := parseOID([]byte(s))
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func splitList(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), ",")
}
