package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/proxy"
)

// Options are what a Mapper needs besides its configuration.
type Options struct {
	// Prefix starts the name of every ephemeral role, and Cleanup drops every role that
	// carries it: it must be this agent's alone among the agents sharing a database server
	// (DefaultPrefix of the node name). Required when the configuration turns ephemeral
	// roles on.
	Prefix string
	// Audit is told every statement run for ephemeral roles (see Statement). Required when
	// the configuration turns ephemeral roles on: they are the agent's own actions on the
	// database and must not go unrecorded.
	Audit func(Statement) error
	// Logger receives a line per ephemeral role created and dropped; nil: slog.Default().
	Logger *slog.Logger
}

// Mapper chooses the upstream login of each session of one target.
type Mapper struct {
	target string
	logins []mapping
	def    *mapping
	eph    *ephemeral // nil: no ephemeral roles
}

// mapping is one configured login with its credential source built.
type mapping struct {
	name     string // "logins[2]" or "default", for the audit
	match    *Match // nil for the default
	user     string
	password proxy.PasswordSource
}

// New builds the Mapper of target t (the proxy's target, for the address, TLS mode and
// the login an ephemeral-role admin defaults to). It builds every credential source now, so
// a misconfigured one stops the start or the reload instead of refusing sessions later. It
// opens no connection: the ephemeral-role admin connects when the first role is needed.
func New(ctx context.Context, cfg Config, t proxy.Target, opts Options) (*Mapper, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Mapper{target: t.Name}
	build := func(name string, match *Match, l *Login) (mapping, error) {
		src, err := l.Config.Source(ctx, &t, l.User)
		if err != nil {
			return mapping{}, fmt.Errorf("roles: %s: %w", name, err)
		}
		return mapping{name: name, match: match, user: l.User, password: src}, nil
	}
	for i := range cfg.Logins {
		e := &cfg.Logins[i]
		mp, err := build(fmt.Sprintf("logins[%d]", i), &e.Match, &e.Login)
		if err != nil {
			return nil, err
		}
		m.logins = append(m.logins, mp)
	}
	if cfg.Default != nil {
		mp, err := build("default", nil, cfg.Default)
		if err != nil {
			return nil, err
		}
		m.def = &mp
	}
	if cfg.Ephemeral == nil {
		return m, nil
	}
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	if opts.Audit == nil {
		return nil, errors.New("roles: ephemeral roles need an Audit callback")
	}
	admin := mapping{name: "ephemeral admin", user: t.User, password: t.Password}
	if a := cfg.Ephemeral.Admin; a != nil {
		var err error
		if admin, err = build("ephemeral: admin", nil, a); err != nil {
			return nil, err
		}
	}
	db := cfg.Ephemeral.Database
	if db == "" {
		db = DefaultAdminDatabase
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var err error
	m.eph, err = newEphemeral(t, admin, db, opts)
	return m, err
}

// Login chooses the login of a session of identity id (nil: no verified identity) and, with
// ephemeral roles, creates the session's role, valid until id's token expires. session is
// the session's audit id, reported with the statements. The error refuses the session; it
// is a *proxy.Error saying why (28000 naming the identity when nothing maps it).
func (m *Mapper) Login(ctx context.Context, id *identity.Identity, session string) (*Lease, error) {
	mp := m.choose(id)
	if mp == nil {
		return nil, &proxy.Error{
			Code:    proxy.CodeInvalidAuthorization,
			Message: fmt.Sprintf("sluice: %s has no database login on target %q: it matches none of the target's role mappings and there is no default", describe(id), m.target),
		}
	}
	if m.eph == nil {
		return &Lease{User: mp.user, Password: mp.password, Role: mp.user, Mapping: mp.name}, nil
	}
	if id == nil {
		return nil, &proxy.Error{
			Code:    proxy.CodeInvalidAuthorization,
			Message: fmt.Sprintf("sluice: target %q logs sessions in as ephemeral roles, which end when the identity's token expires: a session without a verified identity cannot have one", m.target),
		}
	}
	r, err := m.eph.create(ctx, mp.user, id.Expiry, session)
	if err != nil {
		return nil, err
	}
	return &Lease{User: r.name, Password: r.password, Role: mp.user, Mapping: mp.name, role: r}, nil
}

// choose returns the first mapping whose match holds for id, the default, or nil.
func (m *Mapper) choose(id *identity.Identity) *mapping {
	for i := range m.logins {
		if m.logins[i].match.matches(id) {
			return &m.logins[i]
		}
	}
	return m.def
}

// Close releases the admin connections once the last ephemeral role of this Mapper is
// dropped (at once when there is none), so a Mapper replaced by a reload can be closed
// while its sessions go on. It creates no role after Close.
func (m *Mapper) Close() {
	if m.eph != nil {
		m.eph.close()
	}
}

// Lease is the login chosen for one session.
type Lease struct {
	// User is the database user the session logs in as: the mapped user, or the
	// session's ephemeral role.
	User string
	// Password is where the login's password comes from (nil: none).
	Password proxy.PasswordSource
	// Role is the mapped database role: User itself, or the group role the ephemeral
	// User acts as. Status and audit show it beside the identity.
	Role string
	// Mapping names the configuration entry that chose the login ("logins[2]",
	// "default"), so an audit reader can tell why this role.
	Mapping string

	role *ephemeralRole // nil for a configured login
}

// Ephemeral reports whether User is a role created for this session.
func (l *Lease) Ephemeral() bool { return l.role != nil }

// Release ends the lease when its session ends: an ephemeral role's sessions are
// terminated and the role is dropped. It is a no-op for configured logins and after the
// first call. A failed drop is retried when the token expires; the start-up Cleanup is the
// last resort, and VALID UNTIL keeps the role from logging in meanwhile.
func (l *Lease) Release(ctx context.Context) error {
	if l.role == nil {
		return nil
	}
	return l.role.drop(ctx, ReasonSessionEnd)
}

// Extend moves an ephemeral role's end to until, a refreshed token's expiry, so a session
// whose identity was renewed is not cut off at the old token's expiry. It is a no-op for
// configured logins.
func (l *Lease) Extend(ctx context.Context, until time.Time) error {
	if l.role == nil {
		return nil
	}
	return l.role.extend(ctx, until)
}
