package classify

import (
	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// walker fills one Statement from its tree.
type walker struct {
	st *Statement
	q  *queryState
	// action is what a relation named in the current context undergoes: select by default,
	// ddl inside DDL statements, reset to select inside every SELECT.
	action Action
	// inCTE counts enclosing WITH queries, to spot data-modifying CTEs.
	inCTE int
}

// visit classifies one message and everything below it.
func (w *walker) visit(msg proto.Message) {
	if msg == nil {
		return
	}
	m := msg.ProtoReflect()
	if !m.IsValid() {
		return
	}
	if !reviewed[m.Descriptor().Name()] || len(m.GetUnknown()) > 0 {
		w.st.Flags |= FlagUnknownNode
		return
	}
	if w.handle(msg) {
		return
	}
	w.children(m)
}

// children visits every set field of m except the named ones, which a handler has dealt
// with itself.
func (w *walker) children(m protoreflect.Message, skip ...protoreflect.Name) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		for _, s := range skip {
			if fd.Name() == s {
				return true
			}
		}
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := range l.Len() {
				w.visit(l.Get(i).Message().Interface())
			}
		case fd.IsList() && fd.Enum() != nil:
			l := v.List()
			for i := range l.Len() {
				w.checkEnum(fd, l.Get(i).Enum())
			}
		case fd.IsMap():
			// The parse tree has no maps; one would be a schema change nobody reviewed.
			w.st.Flags |= FlagUnknownNode
		case fd.Message() != nil:
			w.visit(v.Message().Interface())
		case fd.Enum() != nil:
			w.checkEnum(fd, v.Enum())
		}
		return true
	})
}

func (w *walker) checkEnum(fd protoreflect.FieldDescriptor, n protoreflect.EnumNumber) {
	if fd.Enum().Values().ByNumber(n) == nil {
		w.st.Flags |= FlagUnknownNode
	}
}

// under visits msg with a different relation action, restoring the previous one after.
func (w *walker) under(a Action, msgs ...proto.Message) {
	saved := w.action
	w.action = a
	for _, m := range msgs {
		w.visit(m)
	}
	w.action = saved
}

// childrenUnder visits the children of m (minus skip) with relation action a.
func (w *walker) childrenUnder(a Action, m proto.Message, skip ...protoreflect.Name) {
	saved := w.action
	w.action = a
	w.children(m.ProtoReflect(), skip...)
	w.action = saved
}

// top reports whether the statement being handled is the outermost one, whose command tag
// and class describe the whole statement; nested ones (in WITH, EXPLAIN, PREPARE, CREATE
// SCHEMA, rule actions, function bodies) only add what they touch.
func (w *walker) top() bool { return w.st.Command == "" }

func (w *walker) command(tag string, class Class) {
	if w.top() {
		w.st.Command = tag
		w.st.Class = class
	}
	w.st.Classes |= class
}

func (w *walker) lock(l Lock) {
	w.st.Lock = max(w.st.Lock, l)
}

func (w *walker) object(kind, schema, name string, a Action) {
	w.st.Objects = append(w.st.Objects, Object{Kind: kind, Schema: schema, Name: name, Action: a})
}

func (w *walker) relation(rv *pg.RangeVar, a Action) {
	if rv == nil {
		return
	}
	w.visit(rv.GetAlias())
	schema := rv.GetSchemaname()
	if rv.GetCatalogname() != "" && schema == "" {
		schema = rv.GetCatalogname()
	}
	w.object("relation", schema, rv.GetRelname(), a)
	if isSettingsView(schema, rv.GetRelname()) && a != ActSelect {
		// pg_settings has an UPDATE rule that calls set_config(): a session-state change
		// whose parameter name is in a WHERE clause. Treat it as an unknown setting.
		w.st.Flags |= FlagSessionState
		w.st.Classes |= ClassMiscSet
		w.st.Settings = append(w.st.Settings, Setting{})
	}
}

func isSettingsView(schema, name string) bool {
	return name == "pg_settings" && (schema == "" || schema == "pg_catalog")
}

// finish derives the classes implied by what the statement touches.
func (w *walker) finish() {
	st := w.st
	for _, o := range st.Objects {
		switch o.Action {
		case ActSelect:
			st.Classes |= ClassRead
		case ActInsert, ActUpdate, ActDelete, ActTruncate:
			st.Classes |= ClassWrite
		}
	}
	if len(st.Settings) > 0 {
		st.Classes |= ClassMiscSet
	}
	st.Classes |= st.Class
}
