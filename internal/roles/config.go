package roles

import (
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/internal/credentials"
)

// DefaultAdminDatabase is the database the ephemeral-role admin connection opens when
// EphemeralConfig.Database is empty: it exists on every PostgreSQL server, RDS included.
const DefaultAdminDatabase = "postgres"

// Config is one target's mapping from verified identities to database logins: the YAML
// under a target's "roles" key. Its keys are decoded strictly by the agent.
type Config struct {
	// Logins are tried in order; the first whose Match holds for the session's identity
	// chooses the login. Order them from the most specific to the most general.
	Logins []Entry `yaml:"logins"`
	// Default is the login of an identity no entry matches, and of a session without a
	// verified identity (possible only in audit mode). Nil: such sessions are refused.
	Default *Login `yaml:"default"`
	// Ephemeral, when set, logs every session in as a role created for it alone. The
	// chosen login's user is then the group role the session's role is a member of and
	// acts as, and has no credentials of its own.
	Ephemeral *EphemeralConfig `yaml:"ephemeral"`
}

// Entry maps the identities its Match selects to a login.
type Entry struct {
	Match Match `yaml:"match"`
	Login `yaml:",inline"`
}

// Login is a database user and where its secret comes from (password_file, password_env
// or rds_iam beside "user"; none for trust or certificate authentication, and always none
// with ephemeral roles).
type Login struct {
	User               string `yaml:"user"`
	credentials.Config `yaml:",inline"`
}

// Match selects identities. Every condition that is set must hold; within one condition's
// list any value will do. Values compare exactly: a pattern would make it too easy to map
// more workloads than meant to a privileged role.
type Match struct {
	// Issuer is the identity's token issuer, as configured under identity.issuers.
	Issuer string `yaml:"issuer"`
	// Subjects are policy subjects (the identity binding's subject or the token's sub).
	Subjects []string `yaml:"subjects"`
	// Groups match when the identity holds at least one of them.
	Groups []string `yaml:"groups"`
	// Claims maps a claim name to its accepted values; a list-valued claim matches when
	// any element is accepted. Only the claims the issuer's configuration selects (its
	// "claims", and those its bindings check) reach an identity: a claim not selected
	// there never matches.
	Claims map[string][]string `yaml:"claims"`
}

// EphemeralConfig turns on per-session roles for a target.
type EphemeralConfig struct {
	// Admin is the login that creates and drops the roles. It needs CREATEROLE, the
	// pg_signal_backend role (to end a dropped role's sessions), and on PostgreSQL 16 and
	// later ADMIN OPTION on every mapped group role. Nil: the target's own login.
	Admin *Login `yaml:"admin"`
	// Database is the database the admin connection opens (DefaultAdminDatabase when
	// empty). Roles are cluster-wide, so any database the admin may connect to will do.
	Database string `yaml:"database"`
}

// validate checks what can be checked without building credential sources.
func (c *Config) validate() error {
	if len(c.Logins) == 0 && c.Default == nil {
		return errors.New("roles: no logins and no default: every session would be refused")
	}
	for i := range c.Logins {
		e := &c.Logins[i]
		if e.Match.empty() {
			return fmt.Errorf("roles: logins[%d]: match is empty; a login for every identity is the default", i)
		}
		if err := c.checkLogin(&e.Login); err != nil {
			return fmt.Errorf("roles: logins[%d]: %w", i, err)
		}
	}
	if c.Default != nil {
		if err := c.checkLogin(c.Default); err != nil {
			return fmt.Errorf("roles: default: %w", err)
		}
	}
	if c.Ephemeral != nil && c.Ephemeral.Admin != nil && c.Ephemeral.Admin.User == "" {
		return errors.New("roles: ephemeral: admin: user is required")
	}
	return nil
}

func (c *Config) checkLogin(l *Login) error {
	switch {
	case l.User == "":
		return errors.New("user is required")
	case c.Ephemeral != nil && !l.Config.IsZero():
		return fmt.Errorf("user %q: with ephemeral roles the user is a group role the session's own role joins, so it takes no password_file, password_env or rds_iam", l.User)
	}
	return nil
}

func (m *Match) empty() bool {
	return m.Issuer == "" && len(m.Subjects) == 0 && len(m.Groups) == 0 && len(m.Claims) == 0
}
