package lineage

import (
	"context"
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// maxDepth bounds the analysis's recursion. The parse tree decoder already refuses trees
// nested beyond 10,000 levels; statements nested beyond this are refused here.
const maxDepth = 2000

// analyzer carries one statement's analysis.
type analyzer struct {
	ctx   context.Context
	r     Resolver
	res   *Result
	err   error
	depth int
	rels  map[string][]*Relation
}

// Analyze follows sensitive values through one statement of a parse tree (a RawStmt's
// Stmt). An error means the resolver failed (the catalog is unreachable); a statement the
// analysis cannot follow is not an error but a Result with Refusals.
func Analyze(ctx context.Context, r Resolver, stmt *pg.Node) (*Result, error) {
	a := &analyzer{ctx: ctx, r: r, res: &Result{}, rels: map[string][]*Relation{}}
	a.statement(stmt)
	if a.err != nil {
		return nil, a.err
	}
	return a.res, nil
}

// AnalyzeQuery analyses a query text's single SELECT, as a view's definition is: the
// result columns and what they carry. It is how a Resolver learns view columns' taints.
func AnalyzeQuery(ctx context.Context, r Resolver, stmt *pg.Node) ([]Output, *Result, error) {
	a := &analyzer{ctx: ctx, r: r, res: &Result{}, rels: map[string][]*Relation{}}
	outs, exact := a.nested(nil, stmt)
	if !exact {
		a.refuse("the columns of the query could not be determined")
	}
	if a.err != nil {
		return nil, nil, a.err
	}
	return outs, a.res, nil
}

func (a *analyzer) enter() bool {
	a.depth++
	if a.depth > maxDepth {
		a.refuse(fmt.Sprintf("the statement is nested more than %d levels deep", maxDepth))
		a.depth--
		return false
	}
	return true
}

func (a *analyzer) leave() { a.depth-- }

func (a *analyzer) refuse(why string) {
	for _, r := range a.res.Refusals {
		if r == why {
			return
		}
	}
	a.res.Refusals = append(a.res.Refusals, why)
}

func (a *analyzer) predicate(t Taint) {
	a.res.Predicates = a.res.Predicates.Or(t)
	a.res.Reads = a.res.Reads.Or(t)
}

func (a *analyzer) predicateExpr(s *scope, n *pg.Node) {
	if n != nil {
		a.predicate(a.expr(s, n).Taint)
	}
}

func (a *analyzer) predicateExprs(s *scope, ns []*pg.Node) {
	for _, n := range ns {
		a.predicateExpr(s, n)
	}
}

// relations asks the resolver once per name and statement.
func (a *analyzer) relations(rv *pg.RangeVar) []*Relation {
	key := rv.GetSchemaname() + "." + rv.GetRelname()
	if rels, ok := a.rels[key]; ok {
		return rels
	}
	rels, err := a.r.Relations(a.ctx, rv.GetSchemaname(), rv.GetRelname())
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("resolving %s: %w", key, err)
	}
	a.rels[key] = rels
	if len(rels) == 0 {
		a.res.Unresolved = true
	}
	for _, r := range rels {
		for _, c := range r.Columns {
			a.res.Reads = a.res.Reads.Or(c.Taint)
		}
	}
	return rels
}

// outputs records a statement's result columns.
func (a *analyzer) outputs(k Kind, outs []Output) {
	a.res.Kind = k
	a.res.Outputs = outs
	for _, o := range outs {
		a.res.Reads = a.res.Reads.Or(o.Taint)
	}
}

func nodeName(n proto.Message) string {
	if n == nil {
		return "empty node"
	}
	if node, ok := n.(*pg.Node); ok {
		m := node.ProtoReflect()
		if od := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); od != nil {
			return string(od.Message().Name())
		}
		return "empty node"
	}
	return string(n.ProtoReflect().Descriptor().Name())
}
