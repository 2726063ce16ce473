package lineage

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// expr returns what the value of expression n carries when evaluated in scope s. A bare
// column reference keeps the column's taint (and is Plain); anything computed derives it.
func (a *analyzer) expr(s *scope, n *pg.Node) Output {
	if n == nil || !a.enter() {
		return Output{}
	}
	defer a.leave()
	switch v := n.GetNode().(type) {
	case *pg.Node_ColumnRef:
		return a.columnRef(s, v.ColumnRef)
	case *pg.Node_SubLink:
		return Output{Taint: a.subLink(s, v.SubLink)}
	case *pg.Node_FuncCall:
		return Output{Taint: a.funcCall(s, v.FuncCall)}
	case *pg.Node_SelectStmt:
		return Output{Taint: union(a.query(s, v.SelectStmt)).Derive()}
	case *pg.Node_AConst, *pg.Node_ParamRef:
		return Output{}
	}
	return Output{Taint: a.children(s, n).Derive()}
}

// children unions the taint of every expression below msg, found by walking the protobuf
// tree generically, so that no node type can hide a column reference.
func (a *analyzer) children(s *scope, msg proto.Message) Taint {
	var t Taint
	m := msg.ProtoReflect()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		visit := func(x protoreflect.Message) {
			if node, ok := x.Interface().(*pg.Node); ok {
				t = t.Or(a.expr(s, node).Taint)
			} else if a.enter() {
				t = t.Or(a.children(s, x.Interface()))
				a.leave()
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				visit(l.Get(i).Message())
			}
		case fd.IsMap():
			a.refuse("the parse tree holds a map, which this analysis does not know")
		default:
			visit(v.Message())
		}
		return true
	})
	return t
}

// columnRef resolves a column reference: name, qualifier.name (a FROM item's column, or a
// field of a composite column), schema.table.column, or a star.
func (a *analyzer) columnRef(s *scope, c *pg.ColumnRef) Output {
	names := fieldNames(c.GetFields())
	n := len(names)
	switch {
	case n == 0:
		a.refuse("a column reference without a name")
		return Output{}
	case n == 1 && names[0] == "*":
		cols, _ := s.star()
		return Output{Name: "*", Taint: union(cols, true)}
	case n == 1:
		return s.column(names[0])
	case names[n-1] == "*":
		cols, found, _ := s.qualifiedStar(names[n-2])
		if !found {
			// (composite).*: every field of a column, computed.
			return Output{Name: "*", Taint: s.column(names[0]).Taint.Derive()}
		}
		return Output{Name: "*", Taint: union(cols, true)}
	}
	if out, found := s.qualified(names[n-2], names[n-1]); found {
		return out
	}
	// Not a FROM item's column: a field of a composite column (or of a whole row).
	return Output{Name: names[n-1], Taint: s.column(names[0]).Taint.Derive()}
}

func fieldNames(fields []*pg.Node) []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		switch v := f.GetNode().(type) {
		case *pg.Node_String_:
			out = append(out, v.String_.GetSval())
		case *pg.Node_AStar:
			out = append(out, "*")
		default:
			return nil
		}
	}
	return out
}

// subLink is a subquery in an expression. Its result flows into the expression, except
// for EXISTS, which yields only whether rows exist (what the subquery filters on is
// recorded as predicates by the subquery itself).
func (a *analyzer) subLink(s *scope, l *pg.SubLink) Taint {
	t := a.expr(s, l.GetTestexpr()).Taint
	sel := l.GetSubselect().GetSelectStmt()
	if sel == nil {
		a.refuse("a subquery that is not a SELECT")
		return t
	}
	outs, exact := a.query(s, sel)
	if l.GetSubLinkType() == pg.SubLinkType_EXISTS_SUBLINK {
		a.predicate(union(outs, exact))
		return t.Derive()
	}
	return t.Or(union(outs, exact)).Derive()
}

// funcCall is a function call: its value derives from its arguments and from what its body
// reads. The built-in count() yields only how many rows (or non-null values) there are, so
// its arguments are predicates, not values (a user-defined count could return anything, and
// may win overload resolution). Functions that read data around lineage are refused.
func (a *analyzer) funcCall(s *scope, f *pg.FuncCall) Taint {
	schema, name := funcName(f.GetFuncname())
	if why := refusedFunction(name); why != "" {
		a.refuse(why)
	}
	t := a.children(s, f)
	fn, err := a.r.Function(a.ctx, schema, name)
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("resolving function %s: %w", name, err)
	}
	if !fn.Known {
		a.res.Unresolved = true
	}
	a.res.Reads = a.res.Reads.Or(fn.Body)
	if storingFunctions[name] && !t.Clean() {
		a.res.Copies = append(a.res.Copies, Copy{Table: "(arguments of " + name + "())", Source: t})
	}
	if name == "count" && fn.Builtin {
		a.predicate(t)
		return Taint{}
	}
	return t.Or(fn.Body).Derive()
}

func funcName(list []*pg.Node) (schema, name string) {
	names := fieldNames(list)
	switch len(names) {
	case 0:
		return "", ""
	case 1:
		return "", names[0]
	}
	return names[len(names)-2], names[len(names)-1]
}

// union is the taint of any of the columns; when their positions are not exact, the
// columns may be anything and each is taken as computed from all of them.
func union(cols []Output, exact bool) Taint {
	var t Taint
	for _, c := range cols {
		t = t.Or(c.Taint)
	}
	if !exact {
		t = t.Derive()
	}
	return t
}
