package catalog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// functionsSQL reads pg_proc. prosqlbody exists from PostgreSQL 14 on; reading it through
// to_jsonb keeps the query valid on older servers.
const functionsSQL = `SELECT p.oid, n.nspname, l.lanname,
	CASE WHEN l.lanname = 'sql' THEN p.prosrc ELSE '' END,
	(pg_catalog.to_jsonb(p) ->> 'prosqlbody') IS NOT NULL,
	pg_catalog.array_to_string(ARRAY(
		SELECT d.refobjid::text || ':' || d.refobjsubid FROM pg_catalog.pg_depend d
		WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass), ',')
	FROM pg_catalog.pg_proc p
	JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
	JOIN pg_catalog.pg_language l ON l.oid = p.prolang
	WHERE p.proname = $1::text AND ($2::text = '' OR n.nspname = $2::text)
	ORDER BY p.oid`

// Functions describes the functions called name.
func (c *Conn) Functions(ctx context.Context, schema, name string) ([]Function, error) {
	key := [2]string{schema, name}
	if fs, ok := get(&c.cache, func(c *cache) map[[2]string][]Function { return c.funcs }, key); ok {
		return fs, nil
	}
	rows, err := c.query(ctx, functionsSQL, name, schema)
	if err != nil {
		return nil, err
	}
	fs := make([]Function, 0, len(rows))
	for _, r := range rows {
		oid, err := parseOID(r[0])
		if err != nil {
			return nil, err
		}
		f := Function{OID: oid, Schema: string(r[1]), Language: string(r[2]), Source: string(r[3]), Atomic: string(r[4]) == "t"}
		if f.Depends, err = columnRefs(r[5]); err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	if len(fs) > 0 {
		put(&c.cache, func(c *cache) map[[2]string][]Function { return c.funcs }, key, fs)
	}
	return fs, nil
}

// columnRefs parses "oid:attnum,..." lists built by the catalog queries.
func columnRefs(b []byte) ([]ColumnRef, error) {
	var out []ColumnRef
	for _, dep := range splitList(b) {
		relPart, sub, ok := strings.Cut(dep, ":")
		if !ok {
			return nil, fmt.Errorf("catalog: dependency %q", dep)
		}
		o, err := parseOID([]byte(relPart))
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(sub, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("catalog: dependency %q: %w", dep, err)
		}
		out = append(out, ColumnRef{Rel: o, Attnum: int16(n)})
	}
	return out, nil
}
