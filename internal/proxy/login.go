package proxy

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// LoginChooser is implemented by a SessionInspector that chooses the database role its
// session logs in as, instead of the target's User and Password: the least-privileged role
// the verified identity needs, or a short-lived role created for the session alone. The
// agent holds every credential, so this choice, not the client, decides what the database
// lets the session do.
type LoginChooser interface {
	// UpstreamLogin returns the database user the session logs in as and where its
	// password comes from (nil: none, for trust or certificate authentication). The proxy
	// calls it once, after OpenSession and before opening the upstream connection. An
	// error refuses the session: the client receives a FATAL ErrorResponse (the *Error's
	// SQLSTATE when err is one, 28000 otherwise) and the inspector's Close is called
	// with it. An empty user is refused the same way, never read as "the target's own
	// login": a chooser that lost track of its choice must not fall back to the agent's
	// most privileged credentials.
	UpstreamLogin(ctx context.Context) (user string, password PasswordSource, err error)
}

// TLSRequirer is implemented by a PasswordSource whose secret must never cross the network
// in plaintext, typically a bearer token that anyone who sees it can use until it expires
// (an AWS RDS IAM token). The proxy refuses to ask such a source for its secret when the
// target's TLS mode is disable, whether the source is the target's own or one a
// LoginChooser picked, so a configuration mistake fails the connection rather than leak it.
type TLSRequirer interface {
	RequiresTLS() bool
}

// login is the user and password source an upstream connection authenticates with.
type login struct {
	user     string
	password PasswordSource
}

// chooseLogin returns the login of the session's upstream connection: its inspector's
// choice when the inspector is a LoginChooser, the target's own login otherwise.
func (s *session) chooseLogin(ctx context.Context, t *Target) (login, error) {
	chooser, ok := s.insp.(LoginChooser)
	if !ok {
		return login{user: t.User, password: t.Password}, nil
	}
	user, password, err := chooser.UpstreamLogin(ctx)
	if err != nil {
		return login{}, asError(err, CodeInvalidAuthorization)
	}
	if user == "" {
		return login{}, &Error{Code: CodeInvalidAuthorization, Message: fmt.Sprintf("sluice: no database user was chosen for this session on target %q", t.Name)}
	}
	return login{user: user, password: password}, nil
}

// ConnConfig returns the configuration of a connection to t's server as user, for
// database, with the password read from password (nil: none). The address, TLS mode and
// certificate verification are exactly those of the proxy's own upstream connections, and
// none of the agent's PG* environment or ~/.postgresql files apply. It exists for the
// agent's own connections to a target (creating and dropping per-session roles), which
// must reach the server no other way than the sessions do.
//
// A password source that is a TLSRequirer is refused, before it is asked for anything,
// when t's TLS mode is disable.
func (t *Target) ConnConfig(ctx context.Context, user string, password PasswordSource, database string) (*pgconn.Config, error) {
	tc := *t
	switch tc.TLS {
	case "":
		tc.TLS = TLSVerifyFull // the documented zero value, also for a Target NewServer did not default
	case TLSVerifyFull, TLSRequire, TLSDisable:
	default:
		return nil, fmt.Errorf("target %q: unknown TLS mode %q", tc.Name, tc.TLS)
	}
	if r, ok := password.(TLSRequirer); ok && r.RequiresTLS() && tc.TLS == TLSDisable {
		return nil, fmt.Errorf("the credentials of user %q must only be sent over TLS, and target %q has TLS mode %q", user, tc.Name, TLSDisable)
	}
	cfg, err := pgconn.ParseConfig(connString(&tc, user))
	if err != nil {
		return nil, err
	}
	// No password source means no password: not one from PGPASSWORD or ~/.pgpass, which
	// are meant for other connections of the agent's OS user.
	cfg.Password = ""
	if password != nil {
		if cfg.Password, err = password.Password(ctx); err != nil {
			return nil, err
		}
	}
	cfg.Database = database
	cfg.Fallbacks = nil
	return cfg, nil
}
