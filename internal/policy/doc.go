// Package policy decides, for every statement a workload sends, whether it runs: allow,
// warn (run, and tell the client why it is risky), review (hold for a human) or deny.
//
// Decisions come from ordered YAML rules matched against the statement's classification
// (package classify, built on PostgreSQL's own parse tree from package sqlparse) and the
// workload's verified identity. What the parser cannot vouch for — text it could not
// parse, tree nodes nobody reviewed, opaque or dynamic code, FunctionCall messages — is
// denied unless a rule explicitly names it. Decisions are cached by exact statement text
// and identity, so classification is paid once per distinct statement; statements that
// differ only in integer constants share one decision when PostgreSQL's parse proves they
// may (shape.go), so a client that inlines its literals is parsed once per shape.
//
// The package knows nothing of sockets or of how identities are verified: the proxy hands
// it an Identity and SQL text, and acts on the Decision. docs/policy.md documents the rule
// language and the shipped rule packs.
package policy
