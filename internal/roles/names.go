package roles

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// suffixBytes random bytes, in hex, follow the prefix in every ephemeral role's name: 64
// bits make a collision between the roles of one agent practically impossible.
const suffixBytes = 8

// maxIdentifier is PostgreSQL's identifier length limit (NAMEDATALEN - 1); longer names
// would be silently truncated, and two truncated names could collide.
const maxIdentifier = 63

// validPrefix is lower-case, starts with a letter and ends with '_'. The final '_' is
// what keeps the prefixes of two agents apart: an agent's roles are exactly its prefix
// followed by hex digits, which contain no '_', so one prefix can never claim roles named
// after another (longer) prefix that merely starts with it.
var validPrefix = regexp.MustCompile(`^[a-z][a-z0-9_]*_$`)

// checkPrefix says why p cannot prefix ephemeral role names, or nil.
func checkPrefix(p string) error {
	switch {
	case !validPrefix.MatchString(p):
		return fmt.Errorf("ephemeral role prefix %q must be lower-case letters, digits and '_', start with a letter and end with '_'", p)
	case strings.HasPrefix(p, "pg_"):
		return fmt.Errorf("ephemeral role prefix %q: PostgreSQL reserves names starting with pg_", p)
	case len(p)+2*suffixBytes > maxIdentifier:
		return fmt.Errorf("ephemeral role prefix %q is too long: names must fit PostgreSQL's %d bytes", p, maxIdentifier)
	}
	return nil
}

// DefaultPrefix returns a prefix for the ephemeral roles of the agent on node (its host
// name, say): "sluice_", the node's name made safe and cut to 20 characters, and 8 hex
// digits of its hash, so that two nodes whose names only differ where they were cut or
// made safe still get different prefixes. Every agent that shares a database server with
// another must have its own prefix: start-up clean-up drops every role carrying it.
func DefaultPrefix(node string) string {
	safe := []byte(strings.ToLower(node))
	for i, c := range safe {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			safe[i] = '_'
		}
	}
	if len(safe) > 20 {
		safe = safe[:20]
	}
	sum := sha256.Sum256([]byte(node))
	return "sluice_" + string(safe) + "_" + hex.EncodeToString(sum[:4]) + "_"
}

// newRoleName returns prefix followed by random hex digits.
func newRoleName(prefix string) string {
	b := make([]byte, suffixBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return prefix + hex.EncodeToString(b)
}

// ownRole reports whether name is one newRoleName made with prefix.
func ownRole(prefix, name string) bool {
	suffix, ok := strings.CutPrefix(name, prefix)
	if !ok || len(suffix) != 2*suffixBytes {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil && strings.ToLower(suffix) == suffix
}

// newPassword returns 256 random bits, URL-safe base64: ASCII, so SASLprep leaves it as is.
func newPassword() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
