// Package masking keeps sensitive column values from reaching clients that may not see
// them, whatever SQL they send. Masking is keyed on where a value comes from, never on
// what a column is called: an alias, a view, a CTE or a cursor does not change the origin
// PostgreSQL reports for a plain column (the table OID and attribute number in
// RowDescription), and every value that is computed from a masked column instead is found
// in the statement's parse tree by lineage (package lineage) and refused, or masked by its
// content (package detect), per rule.
//
// One Engine holds the rules (loaded from YAML, reloadable) and, per database target,
// what its catalog says (package catalog, over a side connection) and the plans made per
// statement text and identity. A Session follows one client connection:
//
//	Check      decides on each client message before it is forwarded (Verdict: deny with a
//	           reason, or allow with the rules whose columns will be masked and the
//	           inference risks taken);
//	Sent       records what went upstream (the message, or the proxy's stand-in for a
//	           refused one), so that answers are attributed to the right statement;
//	Wants      tells the relay whether a DataRow or CopyData must be decoded at all;
//	ServerMessage rewrites DataRows (text and binary), COPY TO rows (text and CSV) and
//	           scrubs ErrorResponse, NoticeResponse and NotificationResponse.
//
// docs/masking.md describes the rules, the strategies and the guarantees.
package masking
