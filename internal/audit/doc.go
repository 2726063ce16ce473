// Package audit is sluice's write-ahead, tamper-evident audit log: who ran which statement
// against which database, what was decided, and what happened, recorded before the statement
// is forwarded.
//
// The log is a directory of JSON Lines segments (audit-00000001.jsonl, ...). Every line is
// one Record carrying a global sequence number and the SHA-256 of the exact bytes of the
// line before it, so editing, deleting, inserting or reordering lines breaks the chain.
// Periodically, at rotation and at Close, the log appends a checkpoint that signs (ed25519)
// the last sequence number, the last hash and the previous checkpoint's signature, so a
// chain recomputed by someone without the key stops matching at the next checkpoint, and
// deleted checkpoints are noticed (CloudTrail digest chaining). Verify checks all of it.
//
// Append is the write-ahead primitive: it returns once the record is durable according to
// the configured SyncPolicy, and it fails (with an error wrapping ErrUnavailable) when the
// record cannot be written, so the proxy refuses the statement instead of running it
// unaudited. One writer goroutine serialises the chain and group-commits: appenders that
// arrive while a write or fsync is in progress share the next one.
//
// The package knows nothing of sockets or PostgreSQL; callers fill the typed events
// (SessionStart, Statement, Outcome, SessionEnd, AgentAction). docs/audit.md describes
// the schema, the durability guarantees and what verification can and cannot detect.
package audit
