package classify

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// qualifiedName splits a dotted name list (schema.name, or catalog.schema.name) into schema
// and name.
func qualifiedName(list []*pg.Node) (schema, name string) {
	parts := make([]string, 0, len(list))
	for _, n := range list {
		parts = append(parts, n.GetString_().GetSval())
	}
	switch len(parts) {
	case 0:
		return "", ""
	case 1:
		return "", parts[0]
	default:
		return parts[len(parts)-2], parts[len(parts)-1]
	}
}

func relKey(rv *pg.RangeVar) string {
	return rv.GetSchemaname() + "." + rv.GetRelname()
}

// namedObjects records the objects of DROP and RENAME, which name them as lists of strings,
// function signatures or type names rather than as RangeVars.
func (w *walker) namedObjects(t pg.ObjectType, n *pg.Node) {
	if n == nil {
		return
	}
	kind := strings.ToLower(objectTypeWords(t))
	switch v := n.GetNode().(type) {
	case *pg.Node_List:
		schema, name := qualifiedName(v.List.GetItems())
		w.object(kind, schema, name, ActDDL)
	case *pg.Node_String_:
		w.object(kind, "", v.String_.GetSval(), ActDDL)
	case *pg.Node_ObjectWithArgs:
		schema, name := qualifiedName(v.ObjectWithArgs.GetObjname())
		w.object(kind, schema, name, ActDDL)
	case *pg.Node_TypeName:
		schema, name := qualifiedName(v.TypeName.GetNames())
		w.object(kind, schema, name, ActDDL)
	}
}

// renameTarget is the object type whose ALTER command a RENAME is: renaming a column or
// constraint is an ALTER of the table (or view...) that holds it.
func renameTarget(n *pg.RenameStmt) pg.ObjectType {
	switch n.GetRenameType() {
	case pg.ObjectType_OBJECT_COLUMN, pg.ObjectType_OBJECT_TABCONSTRAINT:
		return n.GetRelationType()
	}
	return n.GetRenameType()
}

var objectTypeSpecial = map[pg.ObjectType]string{
	pg.ObjectType_OBJECT_MATVIEW:               "MATERIALIZED VIEW",
	pg.ObjectType_OBJECT_FDW:                   "FOREIGN DATA WRAPPER",
	pg.ObjectType_OBJECT_FOREIGN_SERVER:        "SERVER",
	pg.ObjectType_OBJECT_OPCLASS:               "OPERATOR CLASS",
	pg.ObjectType_OBJECT_OPFAMILY:              "OPERATOR FAMILY",
	pg.ObjectType_OBJECT_TSCONFIGURATION:       "TEXT SEARCH CONFIGURATION",
	pg.ObjectType_OBJECT_TSDICTIONARY:          "TEXT SEARCH DICTIONARY",
	pg.ObjectType_OBJECT_TSPARSER:              "TEXT SEARCH PARSER",
	pg.ObjectType_OBJECT_TSTEMPLATE:            "TEXT SEARCH TEMPLATE",
	pg.ObjectType_OBJECT_LARGEOBJECT:           "LARGE OBJECT",
	pg.ObjectType_OBJECT_STATISTIC_EXT:         "STATISTICS",
	pg.ObjectType_OBJECT_TABCONSTRAINT:         "TABLE",
	pg.ObjectType_OBJECT_DOMCONSTRAINT:         "DOMAIN",
	pg.ObjectType_OBJECT_ATTRIBUTE:             "TYPE",
	pg.ObjectType_OBJECT_COLUMN:                "TABLE",
	pg.ObjectType_OBJECT_AMOP:                  "OPERATOR FAMILY",
	pg.ObjectType_OBJECT_AMPROC:                "OPERATOR FAMILY",
	pg.ObjectType_OBJECT_DEFACL:                "DEFAULT PRIVILEGES",
	pg.ObjectType_OBJECT_PARAMETER_ACL:         "PARAMETER",
	pg.ObjectType_OBJECT_PUBLICATION_REL:       "PUBLICATION",
	pg.ObjectType_OBJECT_PUBLICATION_NAMESPACE: "PUBLICATION",
}

// objectTypeWords spells an object type as PostgreSQL's command tags do.
func objectTypeWords(t pg.ObjectType) string {
	if s, ok := objectTypeSpecial[t]; ok {
		return s
	}
	return strings.ReplaceAll(strings.TrimPrefix(t.String(), "OBJECT_"), "_", " ")
}
