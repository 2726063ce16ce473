// Package sqlparse parses untrusted SQL with PostgreSQL's own grammar (libpg_query, through
// pg_query_go) without letting any input take down the process that enforces policy.
//
// libpg_query is C. Some inputs crash it: a ~60 KB `SELECT 1+1+...` overflows the C stack
// while the tree is serialised, the Go runtime sees SIGSEGV in cgo code and the whole process
// dies; recover() cannot catch that. The node's enforcement point must survive any statement,
// so the parser never runs in the agent's process. It runs in small worker processes (the
// same executable, re-executed through /proc/self/exe and diverted in this package's init),
// one request at a time, behind pipes with deadlines, as an unprivileged user with a memory
// limit and no core dumps. A worker that crashes, hangs, or answers garbage is killed and
// replaced; the statement it was parsing gets an error, which the policy engine turns into a
// deny. Statements larger than the configured limit, or containing NUL bytes or invalid
// UTF-8, are refused before they reach a parser.
//
// docs/policy.md records the measurements behind this choice.
package sqlparse
