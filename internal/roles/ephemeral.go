package roles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/internal/proxy"
)

// Admin connection pool limits: a few connections serve bursts of session starts without
// a new authentication each, and idle ones are closed so the agent does not sit on an
// idle CREATEROLE session.
const (
	adminMaxConns = 4
	adminIdleTime = time.Minute
	// dropTimeout bounds a drop that is not tied to a caller's context (token expiry).
	dropTimeout = 30 * time.Second
	// terminateWaitMillis is how long pg_terminate_backend waits for each session of a
	// role to exit before the role is dropped.
	terminateWaitMillis = 5000
)

// adminParams are the admin connection's session settings: the two that decide how a
// quoted literal is read are pinned (pgconn refuses to escape under any others), and the
// application name tells a DBA watching pg_stat_activity what this connection is.
var adminParams = map[string]string{
	"application_name":            "sluice ephemeral roles",
	"client_encoding":             "UTF8",
	"standard_conforming_strings": "on",
}

// ephemeral creates, extends and drops the per-session roles of one target.
type ephemeral struct {
	target string
	prefix string
	pool   *pgxpool.Pool
	audit  func(Statement) error
	log    *slog.Logger

	mu      sync.Mutex
	live    map[string]*ephemeralRole // created and not yet finally dropped
	pending int                       // creations in progress
	closing bool
}

// ephemeralRole is one session's role. Its mutex serialises the session's end, the
// token's expiry and a refresh.
type ephemeralRole struct {
	e        *ephemeral
	name     string
	session  string
	password proxy.PasswordSource

	mu    sync.Mutex
	until time.Time
	timer *time.Timer
	done  bool
}

func newEphemeral(t proxy.Target, admin mapping, database string, opts Options) (*ephemeral, error) {
	// The pool's own connection settings are replaced before every connect by the
	// target's (ConnConfig), so neither this empty string nor the PG* environment it
	// reads decides where the admin connects or how.
	pcfg, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("roles: admin connection: %w", err)
	}
	pcfg.MaxConns, pcfg.MaxConnIdleTime = adminMaxConns, adminIdleTime
	pcfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		c, err := t.ConnConfig(ctx, admin.user, admin.password, database)
		if err != nil {
			return err
		}
		c.RuntimeParams = adminParams
		cc.Config = *c
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		return nil, fmt.Errorf("roles: admin connection: %w", err)
	}
	return &ephemeral{
		target: t.Name, prefix: opts.Prefix, pool: pool, audit: opts.Audit,
		log: opts.Logger.With("target", t.Name), live: map[string]*ephemeralRole{},
	}, nil
}

// create makes a role for one session: a member of group acting as group, able to log in
// once with a random password until until.
func (e *ephemeral) create(ctx context.Context, group string, until time.Time, session string) (*ephemeralRole, error) {
	if until.IsZero() || !time.Now().Before(until) {
		return nil, &proxy.Error{Code: proxy.CodeInvalidAuthorization, Message: fmt.Sprintf("sluice: the identity's token expired at %s: no database role is created for it", until.UTC().Format(time.RFC3339))}
	}
	if !e.begin() {
		return nil, &proxy.Error{Code: proxy.CodeCannotConnectNow, Message: "sluice: the agent is stopping"}
	}
	r, err := e.createRole(ctx, group, until, session)
	e.end(r)
	if err != nil {
		return nil, err
	}
	e.log.Info("ephemeral database role created", "role", r.name, "as", group, "valid_until", until, "session", session)
	return r, nil
}

// createRole runs the statements that create a session's role and arms its expiry.
func (e *ephemeral) createRole(ctx context.Context, group string, until time.Time, session string) (*ephemeralRole, error) {
	name, password := newRoleName(e.prefix), newPassword()
	verifier, err := scramVerifier(password)
	if err != nil {
		return nil, err
	}
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return nil, e.unreachable(err)
	}
	defer conn.Release()
	role, grp := ident(name), ident(group)
	expiry, err1 := literal(conn.Conn(), timestamp(until))
	grpLit, err2 := literal(conn.Conn(), group)
	verifierLit, err3 := literal(conn.Conn(), verifier)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, e.unreachable(err)
	}
	text := func(secret string) string {
		return "CREATE ROLE " + role + " WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT CONNECTION LIMIT 1" +
			" PASSWORD " + secret + " VALID UNTIL " + expiry + " IN ROLE " + grp + "; ALTER ROLE " + role + " SET role = " + grpLit
	}
	st := Statement{Text: text("'***'"), Role: name, Reason: ReasonSessionStart, Session: session}
	if err := e.run(ctx, conn.Conn(), st, text(verifierLit), true); err != nil {
		return nil, err
	}
	r := &ephemeralRole{e: e, name: name, session: session, until: until,
		password: proxy.PasswordFunc(func(context.Context) (string, error) { return password, nil })}
	r.mu.Lock()
	r.timer = time.AfterFunc(time.Until(until), r.expire)
	r.mu.Unlock()
	return r, nil
}

// expire drops the role when its token expires, ending its session if still open.
func (r *ephemeralRole) expire() {
	ctx, cancel := context.WithTimeout(context.Background(), dropTimeout)
	defer cancel()
	if err := r.drop(ctx, ReasonExpiry); err != nil {
		r.e.log.Error("dropping an expired ephemeral role failed; the start-up clean-up will retry", "role", r.name, "err", err)
	}
}

// drop terminates the role's sessions and drops it, once. A failure before the token's
// expiry is retried at the expiry.
func (r *ephemeralRole) drop(ctx context.Context, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return nil
	}
	r.timer.Stop()
	err := r.e.dropRole(ctx, r.name, reason, r.session)
	if err != nil {
		if d := time.Until(r.until); d > 0 {
			r.timer.Reset(d)
			return err
		}
	}
	r.done = true
	r.e.forget(r.name)
	return err
}

// extend moves the role's VALID UNTIL and its drop to until.
func (r *ephemeralRole) extend(ctx context.Context, until time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.done:
		return fmt.Errorf("ephemeral role %s was already dropped", r.name)
	case until.Equal(r.until):
		return nil
	case !time.Now().Before(until):
		return fmt.Errorf("cannot extend ephemeral role %s to %v, which has passed", r.name, until)
	}
	conn, err := r.e.pool.Acquire(ctx)
	if err != nil {
		return r.e.unreachable(err)
	}
	defer conn.Release()
	expiry, err := literal(conn.Conn(), timestamp(until))
	if err != nil {
		return r.e.unreachable(err)
	}
	text := "ALTER ROLE " + ident(r.name) + " VALID UNTIL " + expiry
	st := Statement{Text: text, Role: r.name, Reason: ReasonRefresh, Session: r.session}
	if err := r.e.run(ctx, conn.Conn(), st, text, true); err != nil {
		return err
	}
	r.until = until
	r.timer.Reset(time.Until(until))
	return nil
}

// dropRole ends every session of the role, waiting for each to exit (a dropped role's
// open sessions would otherwise go on), then drops it.
func (e *ephemeral) dropRole(ctx context.Context, name, reason, session string) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return e.unreachable(err)
	}
	defer conn.Release()
	terminate := fmt.Sprintf("SELECT pg_catalog.pg_terminate_backend(pid, %d) FROM pg_catalog.pg_stat_activity WHERE usename = $1", terminateWaitMillis)
	st := Statement{Text: terminate, Args: []string{name}, Role: name, Reason: reason, Session: session}
	if err := e.run(ctx, conn.Conn(), st, terminate, false, name); err != nil {
		return err
	}
	drop := "DROP ROLE IF EXISTS " + ident(name)
	st = Statement{Text: drop, Role: name, Reason: reason, Session: session}
	if err := e.run(ctx, conn.Conn(), st, drop, false); err != nil {
		return err
	}
	e.log.Info("ephemeral database role dropped", "role", name, "reason", reason, "session", session)
	return nil
}

// run reports st, runs sql with args, and reports a failure. When grants is true, a
// report that fails stops the statement (see Statement).
func (e *ephemeral) run(ctx context.Context, conn *pgx.Conn, st Statement, sql string, grants bool, args ...any) error {
	if err := e.report(st); err != nil && grants {
		return &proxy.Error{Code: "58030", Message: "sluice: the session's database role was not created because the agent's statement could not be audited", Detail: err.Error()}
	}
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		e.reportFailure(st, err)
		return &proxy.Error{Code: proxy.CodeUnableToConnect, Message: fmt.Sprintf("sluice: managing ephemeral role %s on target %q: %v", st.Role, e.target, err)}
	}
	return nil
}

// report tells Audit that st is about to run, and logs when it cannot be recorded.
func (e *ephemeral) report(st Statement) error {
	st.Target = e.target
	err := e.audit(st)
	if err != nil {
		e.log.Error("an ephemeral-role statement could not be audited", "role", st.Role, "reason", st.Reason, "err", err)
	}
	return err
}

// reportFailure tells Audit that st failed with err.
func (e *ephemeral) reportFailure(st Statement, err error) {
	st.Err = err
	_ = e.report(st) // a failure to record it is logged by report
}

// unreachable is the refusal when the admin connection cannot be had.
func (e *ephemeral) unreachable(err error) *proxy.Error {
	return &proxy.Error{Code: proxy.CodeUnableToConnect, Message: fmt.Sprintf("sluice: cannot reach target %q to manage ephemeral roles: %v", e.target, err)}
}

// begin counts a creation in progress, unless the Mapper is closed.
func (e *ephemeral) begin() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.pending++
	return true
}

// end completes a creation: r (nil when it failed) joins the live set.
func (e *ephemeral) end(r *ephemeralRole) {
	e.mu.Lock()
	e.pending--
	if r != nil {
		e.live[r.name] = r
	}
	last := e.idleAfterClose()
	e.mu.Unlock()
	if last {
		e.pool.Close()
	}
}

// forget removes a finally dropped role from the live set.
func (e *ephemeral) forget(name string) {
	e.mu.Lock()
	delete(e.live, name)
	last := e.idleAfterClose()
	e.mu.Unlock()
	if last {
		e.pool.Close()
	}
}

// idleAfterClose reports, with mu held, whether the Mapper is closed and has nothing left
// that needs the admin pool: the moment to close it.
func (e *ephemeral) idleAfterClose() bool {
	return e.closing && len(e.live) == 0 && e.pending == 0
}

func (e *ephemeral) isLive(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.live[name]
	return ok
}

func (e *ephemeral) close() {
	e.mu.Lock()
	already := e.closing
	e.closing = true
	last := !already && e.idleAfterClose()
	e.mu.Unlock()
	if last {
		e.pool.Close()
	}
}

// ident quotes an identifier (pgx's sanitizer: double quotes, inner quotes doubled).
func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// literal quotes a string literal for conn, whose settings (UTF-8,
// standard_conforming_strings) pgconn checks before escaping, since they decide what a
// quote inside the literal means.
func literal(conn *pgx.Conn, s string) (string, error) {
	esc, err := conn.PgConn().EscapeString(s)
	if err != nil {
		return "", err
	}
	return "'" + esc + "'", nil
}

// timestamp spells t for a timestamptz literal, in UTC with microseconds (PostgreSQL's
// precision).
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
}
