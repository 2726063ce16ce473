// Package roles chooses, per session, the database role a workload runs as upstream: the
// least-privileged login its verified identity needs, and optionally a role created for
// that session alone, valid only until the identity's token expires.
//
// The agent holds every database credential, so the database's own grants become a
// guardrail that no statement classification can get wrong: a workload mapped to a
// read-only role gets PostgreSQL's own "permission denied" (42501) for a write, whatever
// the policy rules say. A Mapper holds one target's ordered mapping (groups, subjects and
// bound claims to a database user and its credential source), its default, and its
// ephemeral-role settings; an identity matching nothing, with no default, is refused.
//
// Ephemeral roles are created on an admin connection as
//
//	CREATE ROLE <prefix><random> LOGIN NOINHERIT CONNECTION LIMIT 1
//	  PASSWORD '<SCRAM verifier>' VALID UNTIL '<token expiry>' IN ROLE <mapped role>;
//	ALTER ROLE <prefix><random> SET role = '<mapped role>'
//
// so the session acts as the mapped role (objects it creates belong to that role, not to
// a role about to vanish), can log in once, only until the token expires, with a random
// password that never appears in a statement (only its SCRAM verifier does). The role is
// dropped, after its sessions are terminated, when the session ends or the token expires;
// Cleanup drops the roles a previous run of the agent left behind. Every statement run for
// this is reported to Options.Audit, so it is recorded as the agent's own action.
package roles
