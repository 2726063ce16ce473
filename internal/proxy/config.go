package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sluicehq/sluice/internal/origin"
)

// Defaults applied by NewServer to zero fields of Config.
const (
	// DefaultMaxMessageSize caps every client message, and every server message the proxy
	// has to hold in memory (one an Inspector inspects). It is far above any sane statement
	// (a 64 MiB bytea parameter fits, even hex-encoded) yet well below PostgreSQL's own 1 GB
	// limit, so that a handful of sessions cannot exhaust the agent's memory. Server
	// messages nobody inspects are streamed through, never held, and are not capped.
	DefaultMaxMessageSize = 256 << 20
	// DefaultStartupTimeout bounds the client's part of the startup (TLS handshake and
	// startup packet), so a connection that sends nothing cannot hold a slot forever.
	DefaultStartupTimeout = 15 * time.Second
	// DefaultConnectTimeout bounds opening and authenticating the upstream connection.
	DefaultConnectTimeout = 15 * time.Second
)

// Config is everything a Server needs. It is plain data so that the agent can build it
// from its YAML configuration and tests can build it directly.
type Config struct {
	// Targets maps original destinations to upstream databases. A connection whose
	// original destination matches no target is refused.
	Targets []Target
	// Origins tells the proxy what the kernel recorded about an accepted connection.
	// Required: without it no connection could be attributed, so none would be served.
	Origins origin.Lookup
	// Inspector sees sessions, statements and results (policy, masking, audit). Nil passes
	// everything through at no per-message cost.
	Inspector Inspector
	// TLSCertFile and TLSKeyFile are the PEM certificate and key served to clients that
	// ask for TLS. Both empty: a self-signed certificate is generated at start, which is
	// what sslmode=prefer and require clients need (they do not verify it).
	TLSCertFile, TLSKeyFile string
	// Logger receives one line per refused connection, protocol violation and session end.
	// Nil means slog.Default().
	Logger *slog.Logger
	// MaxMessageSize is DefaultMaxMessageSize when zero.
	MaxMessageSize int
	// StartupTimeout is DefaultStartupTimeout when zero.
	StartupTimeout time.Duration
	// ConnectTimeout is DefaultConnectTimeout when zero.
	ConnectTimeout time.Duration
}

// Target is one upstream database and the original destinations that lead to it.
type Target struct {
	// Name identifies the target in logs and in SessionInfo.
	Name string
	// Destinations are the original destinations (as the client dialled them) that select
	// this target. The most specific match over all targets wins: the longest prefix,
	// then a specific port over any port.
	Destinations []Destination

	// Host and Port locate the upstream server. Host is also the name verified against
	// the server certificate in TLSVerifyFull mode.
	Host string
	Port uint16
	// User is the database-side role the agent logs in as; the client's user name is
	// only checked against AllowedUsers, never sent upstream.
	User string
	// Password is asked for the password on every new upstream connection, so a rotated
	// secret applies to new sessions without a restart. Nil: no password (trust or
	// certificate authentication).
	Password PasswordSource
	// TLS is the upstream TLS mode; the zero value means TLSVerifyFull.
	TLS TLSMode
	// CAFile is the PEM bundle that verifies the upstream certificate in TLSVerifyFull
	// mode. Empty: the system roots.
	CAFile string

	// AllowedUsers and AllowedDatabases are the user and database names a client may put
	// in its startup packet. Empty allows any name: the name carries no authority (the
	// agent's credentials do), while the database name selects what they reach.
	AllowedUsers, AllowedDatabases []string
}

// Destination matches original destinations: addresses within Prefix (a /32 or /128 for
// one address), on Port, or on any port when Port is 0.
type Destination struct {
	Prefix netip.Prefix
	Port   uint16
}

// TLSMode is how the proxy secures its upstream connection. The values are libpq's
// sslmode names, so configuration files can use the names operators already know.
type TLSMode string

// The supported upstream TLS modes. Modes that silently fall back to plaintext (allow,
// prefer) are deliberately absent: the agent's credentials must not travel in the clear
// because a server stopped offering TLS.
const (
	TLSVerifyFull TLSMode = "verify-full"
	TLSRequire    TLSMode = "require"
	TLSDisable    TLSMode = "disable"
)

// withDefaults returns a copy of c with zero fields defaulted, or why c cannot be served.
func (c Config) withDefaults() (Config, error) {
	if c.Origins == nil {
		return c, errors.New("proxy: Config.Origins is required")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return c, errors.New("proxy: TLSCertFile and TLSKeyFile must be set together")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.StartupTimeout <= 0 {
		c.StartupTimeout = DefaultStartupTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	targets := make([]Target, len(c.Targets))
	for i, t := range c.Targets {
		if t.TLS == "" {
			t.TLS = TLSVerifyFull
		}
		if err := t.validate(); err != nil {
			return c, fmt.Errorf("proxy: target %d (%q): %w", i, t.Name, err)
		}
		targets[i] = t
	}
	c.Targets = targets
	return c, nil
}

func (t *Target) validate() error {
	switch {
	case t.Host == "" || t.Port == 0:
		return errors.New("upstream Host and Port are required")
	case t.User == "":
		return errors.New("upstream User is required")
	case len(t.Destinations) == 0:
		return errors.New("at least one Destination is required")
	}
	switch t.TLS {
	case TLSVerifyFull, TLSRequire, TLSDisable:
	default:
		return fmt.Errorf("unknown TLS mode %q", t.TLS)
	}
	for _, d := range t.Destinations {
		if !d.Prefix.IsValid() {
			return errors.New("a Destination has no valid Prefix")
		}
	}
	return nil
}
