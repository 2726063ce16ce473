package masking

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/masking/lineage"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
)

// Parser parses SQL in isolation from the agent's process (sqlparse.Parser does).
type Parser interface {
	Parse(ctx context.Context, sql string) (*sqlparse.Result, error)
}

// resolver turns one target's catalog and the rules into what lineage needs: for every
// relation, the taint of each column. A table column is tainted by the rules that match
// its name, or the name of the same column in an ancestor (a partition or child table is
// read through its parent's name, and through its own) or a descendant (reading a parent
// reads its children's rows). A generated column is derived from the columns its
// expression reads. A view column carries what lineage finds its definition passes
// through or computes, cross-checked against the server's own dependency records.
type resolver struct {
	cat    catalog.Catalog
	rules  *RuleSet
	parser Parser
	log    *slog.Logger

	mu    sync.Mutex
	gen   uint64
	rels  map[uint32]*resolved
	funcs map[[2]string]lineage.Func
}

// resolved is a relation with its columns' taints, and each column's attribute number.
type resolved struct {
	rel     *lineage.Relation
	attnums []int16
}

func newResolver(cat catalog.Catalog, rules *RuleSet, parser Parser, log *slog.Logger) *resolver {
	return &resolver{cat: cat, rules: rules, parser: parser, log: log, rels: map[uint32]*resolved{}, funcs: map[[2]string]lineage.Func{}}
}

// Relations implements lineage.Resolver.
func (r *resolver) Relations(ctx context.Context, schema, name string) ([]*lineage.Relation, error) {
	oids, err := r.cat.Named(ctx, schema, name)
	if err != nil {
		return nil, err
	}
	out := make([]*lineage.Relation, 0, len(oids))
	for _, oid := range oids {
		res, err := r.relation(ctx, oid)
		if err != nil {
			return nil, err
		}
		if res != nil {
			out = append(out, res.rel)
		}
	}
	return out, nil
}

// column returns the taint of column attnum of relation oid (a RowDescription's origin).
// A relation or column the catalog does not know has none.
func (r *resolver) column(ctx context.Context, oid uint32, attnum int16) (lineage.Column, error) {
	res, err := r.relation(ctx, oid)
	if err != nil || res == nil {
		return lineage.Column{}, err
	}
	for i, n := range res.attnums {
		if n == attnum {
			return res.rel.Columns[i], nil
		}
	}
	return lineage.Column{}, nil
}

type visitingKey struct{}

// relation returns a relation's taints, computing them on first use.
func (r *resolver) relation(ctx context.Context, oid uint32) (*resolved, error) {
	gen := r.cat.Generation()
	r.mu.Lock()
	if gen != r.gen {
		r.gen, r.rels, r.funcs = gen, map[uint32]*resolved{}, map[[2]string]lineage.Func{}
	}
	res, ok := r.rels[oid]
	r.mu.Unlock()
	if ok {
		return res, nil
	}
	visiting, _ := ctx.Value(visitingKey{}).(map[uint32]bool)
	if visiting[oid] {
		return nil, fmt.Errorf("relation %d depends on itself", oid)
	}
	next := map[uint32]bool{oid: true}
	for k := range visiting {
		next[k] = true
	}
	res, err := r.compute(context.WithValue(ctx, visitingKey{}, next), oid)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if gen == r.gen && res != nil {
		r.rels[oid] = res
	}
	r.mu.Unlock()
	return res, nil
}

func (r *resolver) compute(ctx context.Context, oid uint32) (*resolved, error) {
	cr, err := r.cat.Relation(ctx, oid)
	if err != nil || cr == nil {
		return nil, err
	}
	res := &resolved{rel: &lineage.Relation{Schema: cr.Schema, Name: cr.Name}}
	family, err := r.family(ctx, cr)
	if err != nil {
		return nil, err
	}
	for _, c := range cr.Columns {
		col := lineage.Column{Name: c.Name, Type: c.Type, Typmod: c.Typmod, Generated: c.Generated}
		for _, f := range family {
			col.Taint.Direct = col.Taint.Direct.Or(r.rules.columnRules(f.Schema, f.Name, c.Name))
		}
		res.rel.Columns = append(res.rel.Columns, col)
		res.attnums = append(res.attnums, c.Attnum)
	}
	for i, c := range cr.Columns {
		for _, from := range c.GeneratedFrom {
			for j, n := range res.attnums {
				if n == from {
					res.rel.Columns[i].Taint = res.rel.Columns[i].Taint.Or(res.rel.Columns[j].Taint.Derive())
				}
			}
		}
	}
	if cr.Kind == 'v' || cr.Kind == 'm' {
		if err := r.viewTaints(ctx, cr, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// family is the relation and all its inheritance ancestors and descendants.
func (r *resolver) family(ctx context.Context, cr *catalog.Relation) ([]*catalog.Relation, error) {
	seen := map[uint32]bool{cr.OID: true}
	out := []*catalog.Relation{cr}
	for i := 0; i < len(out); i++ {
		for _, next := range append(append([]uint32{}, out[i].Parents...), out[i].Children...) {
			if seen[next] {
				continue
			}
			seen[next] = true
			rel, err := r.cat.Relation(ctx, next)
			if err != nil {
				return nil, err
			}
			if rel != nil {
				out = append(out, rel)
			}
		}
	}
	return out, nil
}

// viewTaints adds to a view's columns what lineage finds its definition gives them. If the
// definition cannot be analysed, or lineage missed a masked column the server records the
// view as depending on, every column is taken as computed from everything the view reads.
func (r *resolver) viewTaints(ctx context.Context, cr *catalog.Relation, res *resolved) error {
	var deps lineage.Taint
	for _, d := range cr.Depends {
		dt, err := r.dependency(ctx, d)
		if err != nil {
			return err
		}
		deps = deps.Or(dt)
	}
	failClosed := func(why string) {
		if !deps.Clean() {
			r.log.Warn("masking: view columns taken as computed from every masked column the view reads",
				"view", cr.Schema+"."+cr.Name, "reason", why)
		}
		for i := range res.rel.Columns {
			res.rel.Columns[i].Taint = res.rel.Columns[i].Taint.Or(deps.Derive())
		}
	}
	parsed, err := r.parser.Parse(ctx, cr.ViewDef)
	if err != nil || len(parsed.Tree.GetStmts()) != 1 {
		failClosed(fmt.Sprintf("definition not parsed: %v", err))
		return nil
	}
	outs, ares, err := lineage.AnalyzeQuery(ctx, r, parsed.Tree.GetStmts()[0].GetStmt())
	if err != nil {
		return err
	}
	switch {
	case len(ares.Refusals) > 0:
		failClosed(ares.Refusals[0])
	case len(outs) != len(res.rel.Columns):
		failClosed(fmt.Sprintf("definition has %d columns, the view %d", len(outs), len(res.rel.Columns)))
	case !deps.All().Minus(ares.Reads.All()).Empty():
		failClosed("the definition's analysis did not find every masked column the server records it reads")
	default:
		for i := range res.rel.Columns {
			res.rel.Columns[i].Taint = res.rel.Columns[i].Taint.Or(outs[i].Taint)
		}
	}
	return nil
}
