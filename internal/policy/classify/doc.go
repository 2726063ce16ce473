// Package classify turns PostgreSQL's raw parse tree of a query string into the facts that
// guardrail rules decide on: per statement the command tag, the pgaudit-style audit class,
// every object touched and how, every function called, session settings changed, the table
// lock requested, and hazard flags.
//
// The walk is generic: it visits every message of the protobuf tree through reflection, so a
// sub-select, CTE, EXPLAIN, PREPARE, DECLARE, COPY query, rule action or function body cannot
// hide a table or a call. Statement and expression types with a meaning for policy have
// handlers; every other message type must be on the reviewed list. A type that is not (a
// node pg_query adds in a later version, or an analyzed-tree node that a raw parse should
// never contain), unknown protobuf fields, and unknown enum values set FlagUnknownNode, which
// the engine denies unless a rule explicitly allows it.
package classify
