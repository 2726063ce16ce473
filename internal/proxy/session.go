package proxy

import (
	"errors"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// abortGrace is how long an aborted session may still spend writing its final
// ErrorResponse to a client that does not read.
const abortGrace = time.Second

var (
	errClientClosed = errors.New("client closed the connection without Terminate")
	errServerClosed = errors.New("database server closed the connection")
	errShutdown     = &Error{Code: CodeAdminShutdown, Message: "terminating connection due to administrator command"}
)

// session is one client connection relayed to its upstream connection. Two goroutines run
// it: clientToServer (the goroutine that accepted the connection) and serverToClient.
type session struct {
	srv  *Server
	info SessionInfo
	log  *slog.Logger

	client   net.Conn
	upstream *upstream
	key      *pgproto3.BackendKeyData // issued to the client by the proxy

	up   pipe // client -> server, used only by clientToServer
	down pipe // server -> client, used only by serverToClient

	insp     SessionInspector // nil: pass-through
	downMu   sync.Mutex       // the client side's writer: relayServer's, lent to notify
	rows     RowFilter        // insp, when it filters the rows it inspects
	idler    ServerIdler      // insp, when it has work for idle moments
	interest Interest
	denials  *denials

	// State of the client -> server direction.
	cdec       clientDecoder
	swallowing bool // discarding client messages up to the next Sync after a denial

	// State of the server -> client direction.
	sdec    serverDecoder
	pending bool // a frame is partly written to the client

	// Counters that tell where the session is, so that Shutdown can end it between
	// requests: it is idle when every request has been answered with ReadyForQuery,
	// outside a transaction, and no extended-protocol segment is open.
	sent       atomic.Uint64 // ReadyForQuery-producing messages sent upstream (Query, Sync)
	ready      atomic.Uint64 // ReadyForQuery messages relayed to the client
	midSegment atomic.Bool   // extended-protocol messages sent since the last Sync
	outside    atomic.Bool   // the last ReadyForQuery said "idle, not in a transaction"
	draining   atomic.Bool   // end the session as soon as it is idle

	fatal   atomic.Pointer[Error] // sent to the client before the connection is closed
	endOnce sync.Once
	endErr  error
}

// greet completes the client's startup: it is authenticated (the kernel vouched for it),
// sees the upstream server's parameters, gets the proxy's cancel key, and may send queries.
func (s *session) greet(negotiate *pgproto3.NegotiateProtocolVersion) error {
	msgs := []pgproto3.BackendMessage{&pgproto3.AuthenticationOk{}}
	if negotiate != nil {
		msgs = append([]pgproto3.BackendMessage{negotiate}, msgs...)
	}
	params := s.upstream.ParameterStatuses
	for _, name := range slices.Sorted(maps.Keys(params)) {
		msgs = append(msgs, &pgproto3.ParameterStatus{Name: name, Value: params[name]})
	}
	msgs = append(msgs, s.key, &pgproto3.ReadyForQuery{TxStatus: s.upstream.TxStatus})
	for _, m := range msgs {
		if err := s.down.send(m); err != nil {
			return err
		}
	}
	s.outside.Store(s.upstream.TxStatus == 'I')
	return s.down.dst.Flush()
}

// relay runs the session until either side ends it and returns why it ended (nil when
// the client sent Terminate).
func (s *session) relay() error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serverToClient()
	}()
	s.clientToServer()
	<-done
	return s.endErr
}

// end records why the session ends (only the first reason counts: the other direction
// then fails as a consequence) and reports whether this call recorded it.
func (s *session) end(err error) bool {
	first := false
	s.endOnce.Do(func() { s.endErr, first = err, true })
	return first
}

// abort ends the session with e sent to the client as a FATAL ErrorResponse. Closing the
// upstream connection stops serverToClient, which writes e, closes the client connection,
// and so stops clientToServer; the write deadline bounds that final write.
func (s *session) abort(e *Error, cause error) {
	s.end(cause)
	s.fatal.CompareAndSwap(nil, e)
	_ = s.client.SetWriteDeadline(time.Now().Add(abortGrace))
	_ = s.upstream.Conn.Close()
}

// idle reports whether the session sits between requests outside a transaction.
func (s *session) idle() bool {
	return s.outside.Load() && !s.midSegment.Load() && s.ready.Load() == s.sent.Load()
}

// drain ends the session now if it is idle, or else at its next idle moment.
func (s *session) drain() {
	s.draining.Store(true)
	if s.idle() {
		s.abort(errShutdown, errShutdown)
	}
}
