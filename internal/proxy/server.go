package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown, like http.ErrServerClosed.
var ErrServerClosed = errors.New("proxy: server closed")

// Server accepts redirected client connections and relays them to their targets. One
// Server serves any number of listeners (typically 127.0.0.1, ::1 and the node-local
// address), all with the same configuration.
type Server struct {
	cfg       Config
	router    atomic.Pointer[router] // swapped by SetTargets
	tlsConfig *tls.Config
	keys      cancelKeys
	nextID    atomic.Uint64

	// ctx is cancelled when Shutdown gives up waiting, which aborts upstream connects.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]*session // every open client connection; nil until relaying
	handlers  sync.WaitGroup
}

// NewServer checks cfg and prepares a Server; it opens no socket.
func NewServer(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r, err := newRouter(cfg.Targets)
	if err != nil {
		return nil, err
	}
	tlsConfig, err := clientTLSConfig(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &Server{
		cfg:       cfg,
		tlsConfig: tlsConfig,
		ctx:       ctx,
		cancel:    cancel,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[net.Conn]*session),
	}
	srv.router.Store(r)
	return srv, nil
}

// SetTargets replaces the targets for sessions that start from now on (a config reload);
// sessions already relaying keep the upstream they have. Invalid targets change nothing.
func (s *Server) SetTargets(targets []Target) error {
	r, err := newRouter(targets)
	if err != nil {
		return err
	}
	s.router.Store(r)
	return nil
}

// Sessions returns the number of sessions being relayed (connections past the startup),
// for the agent's metrics.
func (s *Server) Sessions() int { return s.keys.count() }

// Serve accepts connections on ln until Shutdown, and then returns ErrServerClosed. It
// closes ln when it returns. Serve may be called for several listeners concurrently.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()

	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors or the like: wait and retry, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.cfg.Logger.Error("accepting a connection", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(conn) {
			_ = conn.Close()
			continue
		}
		go s.handle(conn)
	}
}

// Shutdown stops accepting connections and drains the sessions: idle ones end at once,
// busy ones at the end of their current request or transaction, each with a FATAL
// 57P01 as from a PostgreSQL server shutting down. When ctx ends first, the remaining
// sessions are aborted and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for conn, sess := range s.conns {
		if sess != nil {
			sess.drain()
		} else {
			// Still in the startup: stop waiting for the client. A connection already
			// past reading its startup is refused with 57P03 instead of relayed.
			_ = conn.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	s.mu.Lock()
	for conn, sess := range s.conns {
		if sess != nil {
			sess.abort(errShutdown, errShutdown)
		} else {
			_ = conn.Close()
		}
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers a new connection, unless the server is shutting down.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[conn] = nil
	s.handlers.Add(1)
	return true
}

// relaying marks conn's session as relaying, so Shutdown drains it; it reports false if
// the server is already shutting down, and the session must not start.
func (s *Server) relaying(conn net.Conn, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[conn] = sess
	return true
}

func (s *Server) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
	s.handlers.Done()
}

// logger returns the server's logger with the attributes of one connection.
func (s *Server) logger(attrs ...any) *slog.Logger { return s.cfg.Logger.With(attrs...) }
