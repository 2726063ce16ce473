package masking

import (
	"context"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/masking/lineage"
)

type funcVisitingKey struct{}

// Function implements lineage.Resolver: what a function's body may read. Built-in
// functions (pg_catalog, information_schema) and compiled ones (internal, C: extensions)
// compute from their arguments; those among them that read data otherwise are refused by
// name in lineage. A SQL function's body is analysed: its result may carry anything the
// tables it reads hold. A SQL-standard body's reads are what the server recorded for it.
// A function in any other language (PL/pgSQL, PL/Python, ...) is opaque and may return any
// masked value.
func (r *resolver) Function(ctx context.Context, schema, name string) (lineage.Func, error) {
	key := [2]string{schema, name}
	gen := r.cat.Generation()
	r.mu.Lock()
	if gen != r.gen {
		r.gen, r.rels, r.funcs = gen, map[uint32]*resolved{}, map[[2]string]lineage.Func{}
	}
	fn, ok := r.funcs[key]
	r.mu.Unlock()
	if ok {
		return fn, nil
	}
	fs, err := r.cat.Functions(ctx, schema, name)
	if err != nil || len(fs) == 0 {
		return lineage.Func{}, err
	}
	fn = lineage.Func{Known: true, Builtin: true}
	for _, f := range fs {
		ft, err := r.functionTaint(ctx, f)
		if err != nil {
			return lineage.Func{}, err
		}
		fn.Body = fn.Body.Or(ft)
		fn.Builtin = fn.Builtin && f.Schema == "pg_catalog"
	}
	r.mu.Lock()
	if gen == r.gen {
		r.funcs[key] = fn
	}
	r.mu.Unlock()
	return fn, nil
}

func (r *resolver) functionTaint(ctx context.Context, f catalog.Function) (lineage.Taint, error) {
	switch {
	case f.Schema == "pg_catalog" || f.Schema == "information_schema":
		return lineage.Taint{}, nil
	case f.Language == "internal" || f.Language == "c":
		return lineage.Taint{}, nil
	case f.Atomic:
		var t lineage.Taint
		for _, d := range f.Depends {
			dt, err := r.dependency(ctx, d)
			if err != nil {
				return t, err
			}
			t = t.Or(dt)
		}
		return t.Derive(), nil
	case f.Language != "sql":
		return r.everything(), nil
	}
	visiting, _ := ctx.Value(funcVisitingKey{}).(map[uint32]bool)
	if visiting[f.OID] {
		return lineage.Taint{}, nil // recursion: the outer analysis of this body covers it
	}
	next := map[uint32]bool{f.OID: true}
	for k := range visiting {
		next[k] = true
	}
	ctx = context.WithValue(ctx, funcVisitingKey{}, next)
	parsed, err := r.parser.Parse(ctx, f.Source)
	if err != nil {
		return r.everything(), nil
	}
	var t lineage.Taint
	for _, raw := range parsed.Tree.GetStmts() {
		res, err := lineage.Analyze(ctx, r, raw.GetStmt())
		if err != nil {
			return t, err
		}
		if len(res.Refusals) > 0 {
			return r.everything(), nil
		}
		t = t.Or(res.Reads)
	}
	return t.Derive(), nil
}

// everything is the taint of a value that may be any masked value.
func (r *resolver) everything() lineage.Taint {
	var s lineage.Set
	for i := range r.rules.Rules {
		s.Add(i)
	}
	return lineage.Taint{Derived: s}
}

// dependency is the taint of a column (attnum 0: every column) the server recorded a
// view or function as reading.
func (r *resolver) dependency(ctx context.Context, d catalog.ColumnRef) (lineage.Taint, error) {
	var t lineage.Taint
	dep, err := r.relation(ctx, d.Rel)
	if err != nil || dep == nil {
		return t, err
	}
	for i, c := range dep.rel.Columns {
		if d.Attnum == 0 || dep.attnums[i] == d.Attnum {
			t = t.Or(c.Taint)
		}
	}
	return t, nil
}
