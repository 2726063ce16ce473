package lineage

import "path"

// refusedFunctions read table data without column references the analysis could follow:
// raw pages and tuples (pageinspect), files of the data directory, SQL passed as text
// (whose columns are invisible in the parse tree), and other servers. Matched on the
// function's name in any schema: an extension can be installed anywhere.
var refusedFunctions = []struct{ pattern, why string }{
	{"get_raw_page", "reads raw table pages"},
	{"*page_items*", "reads raw table pages"},
	{"heap_page_item_attrs", "reads raw table pages"},
	{"tuple_data_split", "reads raw table pages"},
	{"pg_read_file", "reads server files (the tables' data files among them)"},
	{"pg_read_binary_file", "reads server files (the tables' data files among them)"},
	{"lo_import", "reads server files (the tables' data files among them)"},
	{"query_to_xml*", "runs SQL passed as text"},
	{"table_to_xml*", "reads a table named as text"},
	{"cursor_to_xml", "reads a cursor whose query is not visible"},
	{"schema_to_xml*", "reads tables named as text"},
	{"database_to_xml*", "reads every table"},
	{"ts_stat", "runs SQL passed as text"},
	{"ts_rewrite", "runs SQL passed as text"},
	{"crosstab*", "runs SQL passed as text"},
	{"connectby", "runs SQL passed as text"},
	{"dblink*", "runs SQL passed as text on a connection"},
}

// refusedFunction returns why a call to the function is refused, or "".
func refusedFunction(name string) string {
	for _, f := range refusedFunctions {
		if ok, _ := path.Match(f.pattern, name); ok {
			return "function " + name + " " + f.why
		}
	}
	return ""
}

// storingFunctions keep their arguments where a later statement reads them back with no
// origin: large objects, settings (current_setting), notification payloads, WAL messages.
// Passing masked values to them is a copy.
var storingFunctions = map[string]bool{
	"lo_from_bytea": true, "lo_put": true, "lowrite": true,
	"set_config": true, "pg_notify": true, "pg_logical_emit_message": true,
}
