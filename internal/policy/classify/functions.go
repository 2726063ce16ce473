package classify

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// sqlTextFunctions take SQL text, or an object name as text, and execute or read it where
// this classifier cannot see: the statement's real effect is hidden in a string. Matched by
// name in any schema, since extensions install them wherever they are told to.
var sqlTextFunctions = map[string]bool{
	// dblink runs SQL on a connection it opens (possibly back to this server, bypassing
	// the proxy's view).
	"dblink": true, "dblink_exec": true, "dblink_open": true, "dblink_fetch": true,
	"dblink_send_query": true, "dblink_connect": true, "dblink_connect_u": true,
	"dblink_get_result": true, "dblink_build_sql_insert": true, "dblink_build_sql_update": true,
	"dblink_build_sql_delete": true,
	// The SQL/XML export functions run a query or read a table named in a string.
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "cursor_to_xmlschema": true,
	"schema_to_xml": true, "schema_to_xmlschema": true, "schema_to_xml_and_xmlschema": true,
	"database_to_xml": true, "database_to_xmlschema": true, "database_to_xml_and_xmlschema": true,
	// Full-text search helpers that execute a query string.
	"ts_stat": true, "ts_rewrite": true,
	// tablefunc executes its source queries.
	"crosstab": true, "crosstab2": true, "crosstab3": true, "crosstab4": true, "connectby": true,
	// Background workers and autonomous transactions running SQL text.
	"pg_background_launch": true, "autonomous": true,
}

// funcCall records a function call and what it implies.
func (w *walker) funcCall(fc *pg.FuncCall) {
	schema, name := qualifiedName(fc.GetFuncname())
	w.st.Functions = append(w.st.Functions, Function{Schema: schema, Name: name})
	builtin := schema == "" || schema == "pg_catalog"
	switch {
	case builtin && name == "set_config":
		w.setConfig(fc)
	case sqlTextFunctions[name]:
		w.st.Flags |= FlagDynamicSQL
	}
	w.children(fc.ProtoReflect(), "funcname")
}
