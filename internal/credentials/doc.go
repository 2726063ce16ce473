// Package credentials builds the sources of the secrets the agent logs in to databases with.
// The agent holds every database credential (workloads never see one), and a source is asked
// for its secret on every new upstream connection, so a rotated password or a fresh
// short-lived token applies to the next session without a restart.
//
// A source is a proxy.PasswordSource. Config, the YAML form used per target and per role
// mapping, builds one of: a password file (proxy.PasswordFile), an environment variable
// (proxy.PasswordEnv), or an AWS RDS/Aurora IAM authentication token (RDSIAM). A source
// whose secret is a bearer token implements proxy.TLSRequirer, and is then refused on a
// target whose TLS mode is disable. docs/credentials.md says how to add another source.
package credentials
