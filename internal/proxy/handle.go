package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/origin"
)

// cancelTimeout bounds forwarding one cancel request upstream.
const cancelTimeout = 10 * time.Second

// errCannotConnectNow refuses a connection that completes its startup during Shutdown.
var errCannotConnectNow = &Error{Code: CodeCannotConnectNow, Message: "the database system is shutting down"}

// handle serves one accepted connection from the origin lookup to the end of its session.
func (s *Server) handle(conn net.Conn) {
	defer s.untrack(conn)
	defer conn.Close()
	started := time.Now()
	client, local := addrPort(conn.RemoteAddr()), addrPort(conn.LocalAddr())
	log := s.logger("client", client)

	org, err := s.cfg.Origins.Lookup(client, local)
	if err != nil {
		// Fail closed: a connection the kernel did not redirect has no identity.
		log.Warn("connection refused: no origin", "local", local, "err", err)
		return
	}
	log = log.With("cgroup", org.CgroupID, "pid", org.PID, "dest", org.Dest)

	cc := newClientConn(conn)
	_ = conn.SetDeadline(started.Add(s.cfg.StartupTimeout))
	msg, cancel, err := readStartup(cc, s.tlsConfig)
	switch {
	case errors.Is(err, io.EOF):
		log.Debug("connection closed before the startup")
		return
	case err != nil:
		log.Warn("startup failed", "err", err)
		refuse(cc, err)
		return
	case cancel != nil:
		s.forwardCancel(cancel, org, log)
		return
	}
	_ = conn.SetDeadline(time.Time{})

	sess, err := s.open(cc, msg, org, started, client)
	if err != nil {
		log.Warn("connection refused", "err", err)
		refuse(cc, err)
		return
	}
	defer s.keys.release(sess)
	if !s.relaying(conn, sess) {
		_ = sess.upstream.Conn.Close()
		if sess.insp != nil {
			sess.insp.Close(errCannotConnectNow)
		}
		refuse(cc, errCannotConnectNow)
		return
	}
	log = sess.log
	log.Info("session started", "target", sess.info.Target, "user", sess.info.User, "database", sess.info.Database, "tls", cc.tls)
	err = sess.greet(msg.negotiate)
	if err == nil {
		err = sess.relay()
	} else {
		_ = sess.upstream.Conn.Close()
	}
	if sess.insp != nil {
		sess.insp.Close(err)
	}
	log.Info("session ended", "err", err, "duration", time.Since(started))
}

// open checks a StartupMessage against the target of the connection, opens the
// Inspector's session and the upstream connection, and returns the session ready to greet
// the client. Errors are *Error where the client should be told why.
func (s *Server) open(cc *clientConn, msg *startupMessage, org origin.Origin, started time.Time, client netip.AddrPort) (*session, error) {
	t := s.router.Load().match(org.Dest)
	if t == nil {
		return nil, &Error{Code: CodeConnectionRejected, Message: fmt.Sprintf("sluice: no database target is configured for %s", org.Dest)}
	}
	params := msg.params
	user, database := params["user"], params["database"]
	if user == "" {
		return nil, &Error{Code: CodeInvalidAuthorization, Message: "no PostgreSQL user name specified in startup packet"}
	}
	if database == "" {
		database = user
	}
	if replicationRequested(params["replication"]) {
		return nil, &Error{Code: CodeFeatureNotSupported, Message: "sluice does not relay replication connections"}
	}
	if len(t.AllowedUsers) > 0 && !slices.Contains(t.AllowedUsers, user) {
		return nil, &Error{Code: CodeInvalidAuthorization, Message: fmt.Sprintf("sluice: user %q is not allowed for target %q", user, t.Name)}
	}
	if len(t.AllowedDatabases) > 0 && !slices.Contains(t.AllowedDatabases, database) {
		return nil, &Error{Code: CodeInvalidAuthorization, Message: fmt.Sprintf("sluice: database %q is not allowed for target %q", database, t.Name)}
	}
	runtime := make(map[string]string, len(params))
	for k, v := range params {
		if k != "user" && k != "database" && k != "replication" {
			runtime[k] = v
		}
	}

	sess := &session{
		srv:     s,
		client:  cc,
		up:      pipe{src: cc.r},
		down:    pipe{dst: cc.w},
		denials: newDenials(),
		info: SessionInfo{
			ID: s.nextID.Add(1), Origin: org, Client: client, Target: t.Name,
			User: user, Database: database, Parameters: runtime,
			TLS: cc.tls, ProtocolMinor: msg.minor, Started: started,
		},
	}
	sess.log = s.logger("session", sess.info.ID, "client", client, "cgroup", org.CgroupID, "pid", org.PID)

	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ConnectTimeout)
	defer cancel()
	if s.cfg.Inspector != nil {
		sess.info.Notify = sess.notify
		sess.info.SentToClient = sess.down.sent.Load
		insp, err := s.cfg.Inspector.OpenSession(ctx, &sess.info)
		if err != nil {
			return nil, asError(err, CodeInvalidAuthorization)
		}
		sess.insp, sess.interest = insp, insp.Interest()
		sess.rows, _ = insp.(RowFilter)
		sess.idler, _ = insp.(ServerIdler)
		inspectable := Messages(inspectableClient)
		for i := range sess.interest.Client {
			sess.interest.Client[i] &= inspectable[i]
		}
	}
	lg, err := sess.chooseLogin(ctx, t)
	if err != nil {
		sess.insp.Close(err) // only a LoginChooser, so an inspector, can refuse a login
		return nil, err
	}
	sess.log = sess.log.With("upstream_user", lg.user)
	up, err := dialUpstream(ctx, t, lg, database, runtime)
	if err != nil {
		if sess.insp != nil {
			sess.insp.Close(err)
		}
		return nil, upstreamError(t, err)
	}
	sess.upstream = up
	rw := socketIO(up.Conn)
	sess.up.dst = bufio.NewWriterSize(rw, pipeBufferSize)
	sess.down.src = bufio.NewReaderSize(rw, pipeBufferSize)
	s.keys.issue(sess, msg.minor)
	return sess, nil
}

// upstreamError tells the client why its target could not be reached: the server's own
// error when it answered one (database does not exist, too many connections, ...), and
// otherwise what failed (TLS verification, connection refused) without the secrets.
func upstreamError(t *Target, err error) *Error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return &Error{Code: pgErr.Code, Message: pgErr.Message, Detail: pgErr.Detail, Hint: pgErr.Hint}
	}
	return &Error{Code: CodeUnableToConnect, Message: fmt.Sprintf("sluice: cannot connect to database target %q: %v", t.Name, err)}
}

// replicationRequested reports whether a replication startup parameter asks for a
// replication connection (PostgreSQL's boolean spellings, or "database").
func replicationRequested(v string) bool {
	switch v {
	case "", "false", "off", "no", "0":
		return false
	}
	return true
}

// forwardCancel forwards a cancel request for one of the proxy's keys upstream, with the
// upstream's key. A request with an unknown key, or from another cgroup than the one
// that opened the session, is ignored: answering differently would let a client probe.
func (s *Server) forwardCancel(req *pgproto3.CancelRequest, org origin.Origin, log *slog.Logger) {
	sess := s.keys.lookup(req)
	if sess == nil {
		log.Warn("cancel request with an unknown key ignored")
		return
	}
	if sess.info.Origin.CgroupID != org.CgroupID {
		log.Warn("cancel request from another cgroup ignored", "session", sess.info.ID)
		return
	}
	if c, ok := sess.insp.(Canceler); ok {
		c.Cancel()
	}
	ctx, cancel := context.WithTimeout(s.ctx, cancelTimeout)
	defer cancel()
	if err := sess.upstream.pg.CancelRequest(ctx); err != nil {
		log.Warn("forwarding cancel request", "session", sess.info.ID, "err", err)
	}
}

// refuse sends err to the client as a FATAL ErrorResponse when it is an *Error; other
// errors (the client vanished, sent garbage) are only logged by the caller.
func refuse(cc *clientConn, err error) {
	e, ok := errors.AsType[*Error](err)
	if !ok {
		return
	}
	_ = cc.SetWriteDeadline(time.Now().Add(abortGrace))
	if b, encErr := e.response(severityFatal).Encode(nil); encErr == nil {
		_, _ = cc.w.Write(b)
		_ = cc.w.Flush()
	}
}

// addrPort returns a TCP address as an AddrPort, with IPv4 unmapped as origins use it.
func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
