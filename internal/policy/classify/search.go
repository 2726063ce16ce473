package classify

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// each calls fn for every message at or below m.
func each(m proto.Message, fn func(proto.Message)) {
	if m == nil || !m.ProtoReflect().IsValid() {
		return
	}
	fn(m)
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				each(l.Get(i).Message().Interface(), fn)
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			each(v.Message().Interface(), fn)
		}
		return true
	})
}

func walkAny(n *pg.Node, fn func(*pg.FuncCall)) {
	each(n, func(m proto.Message) {
		if fc, ok := m.(*pg.FuncCall); ok {
			fn(fc)
		}
	})
}

// mentionsColumn reports whether a WHERE clause refers to any column (or is WHERE CURRENT
// OF a cursor); one that does not is true or false for every row alike.
func mentionsColumn(n *pg.Node) bool {
	found := false
	each(n, func(m proto.Message) {
		switch m.(type) {
		case *pg.ColumnRef, *pg.CurrentOfExpr:
			found = true
		}
	})
	return found
}
