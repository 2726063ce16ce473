package pglocal

// Options configure a throwaway server. The zero value gives a server on 127.0.0.1 that trusts
// every connection.
type Options struct {
	// ListenAddresses is PostgreSQL's listen_addresses: where TCP connections are accepted.
	// Default "127.0.0.1".
	ListenAddresses string
	// Settings are appended to postgresql.conf after pglocal's own, in order, so a later
	// setting overrides an earlier one and any of pglocal's defaults.
	Settings []Setting
	// HBA lines are placed before the generated pg_hba.conf rules. The first matching rule
	// wins, so these take precedence, e.g. to reject one role or require TLS for another.
	HBA []string
	// HostAuth is the pg_hba.conf method for TCP connections from any address: "trust"
	// (default), "scram-sha-256", "md5", ... The unix socket always stays "trust", so setup
	// through Exec never needs a password. HostAuth also selects password_encryption ("md5" for
	// "md5", "scram-sha-256" otherwise), so passwords set later are stored in the matching form.
	HostAuth string
	// SuperuserPassword, if set, becomes the password of the postgres role, for clients that
	// must authenticate over TCP as superuser (such as the agent's upstream connections).
	SuperuserPassword string
	// SSLCertFile and SSLKeyFile, if set, enable TLS with that certificate and private key.
	// They are copied into the server's directory, owned by postgres and mode 0600, because
	// PostgreSQL refuses a key that others can read and may not be able to read the originals.
	SSLCertFile, SSLKeyFile string
	// LogStatements logs every statement the server executes (log_statement = all) to the
	// log, so a test can prove what did, or did not, reach the database.
	LogStatements bool
	// Netns, if set, names a network namespace (one `ip netns add` created) to run the server
	// in, so a test can place the database behind a network path of its choosing (a
	// "database host" reached from a container through the node). ListenAddresses are then
	// addresses in that namespace, and Host is reachable only from there or through its
	// routes. Exec and Query still work from anywhere: they use the unix socket, a file, which
	// network namespaces do not separate.
	Netns string
}

// Setting is one postgresql.conf parameter. Settings are a list, not a map, because their order
// decides which value wins when a name repeats.
type Setting struct {
	Name, Value string
}
