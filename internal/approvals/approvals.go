// Package approvals holds statements that a rule sends to review until a human approves
// or denies them. An approval is single-use and bound to the session, the identity and the
// statement's fingerprint it was requested for; who decided, and why, is kept for the
// audit log. Requests expire after a timeout (a denial), and the client can withdraw one by
// cancelling its statement.
package approvals

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// DefaultTimeout is how long a statement is held when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Request is one held statement waiting for a decision.
type Request struct {
	ID          string    `json:"id"`
	Session     string    `json:"session"`
	Issuer      string    `json:"issuer,omitempty"`
	Subject     string    `json:"subject,omitempty"`
	Groups      []string  `json:"groups,omitempty"`
	Cgroup      string    `json:"cgroup"`
	PID         uint32    `json:"pid"`
	Fingerprint string    `json:"fingerprint"`
	Text        string    `json:"text"`
	Rule        string    `json:"rule"`
	Message     string    `json:"message,omitempty"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// Verdict is how a request ended.
type Verdict struct {
	Approved bool
	// Approver is who decided ("uid 0 (root) pid 42"), or "sluice" for a timeout or a
	// withdrawal by the client.
	Approver string
	Reason   string
}

// Errors Decide returns, so the control API can answer precisely.
var (
	ErrUnknown = errors.New("no pending approval request with that id")
)

// Options configure a Store.
type Options struct {
	// Timeout is how long a statement may be held; it is then denied. Zero: DefaultTimeout.
	Timeout time.Duration
	// Notify is called (in its own goroutine) for every new request, e.g. a webhook.
	Notify func(Request)
	Logger *slog.Logger
}

// Store is the set of pending requests. Safe for concurrent use.
type Store struct {
	opts Options

	mu      sync.Mutex
	pending map[string]*waiting
}

type waiting struct {
	req  Request
	done chan Verdict // buffered(1): the first decision wins
}

// New returns an empty store.
func New(opts Options) *Store {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Store{opts: opts, pending: map[string]*waiting{}}
}

// Hold registers req and blocks until it is approved, denied, times out, or ctx ends (the
// client withdrew it). Only an explicit approval returns Approved. held, if not nil, is
// called with the registered request (its id assigned) before anyone is notified, so the
// caller can record the wait first.
func (s *Store) Hold(ctx context.Context, req Request, held func(Request)) (Request, Verdict) {
	req.ID = newID()
	req.Created = time.Now().UTC()
	req.Expires = req.Created.Add(s.opts.Timeout)
	w := &waiting{req: req, done: make(chan Verdict, 1)}
	s.mu.Lock()
	s.pending[req.ID] = w
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, req.ID)
		s.mu.Unlock()
	}()
	if held != nil {
		held(req)
	}
	s.opts.Logger.Info("statement held for approval", "request", req.ID, "session", req.Session, "subject", req.Subject, "rule", req.Rule)
	if s.opts.Notify != nil {
		go s.opts.Notify(req)
	}
	timer := time.NewTimer(s.opts.Timeout)
	defer timer.Stop()
	select {
	case v := <-w.done:
		return req, v
	case <-timer.C:
		return req, Verdict{Approver: "sluice", Reason: fmt.Sprintf("no decision within %s", s.opts.Timeout)}
	case <-ctx.Done():
		return req, Verdict{Approver: "sluice", Reason: "withdrawn: the client cancelled the statement"}
	}
}

// Decide approves or denies a pending request. Each request is decided once.
func (s *Store) Decide(id string, v Verdict) (Request, error) {
	s.mu.Lock()
	w, ok := s.pending[id]
	if ok {
		delete(s.pending, id)
	}
	s.mu.Unlock()
	if !ok {
		return Request{}, fmt.Errorf("%w: %s", ErrUnknown, id)
	}
	w.done <- v
	s.opts.Logger.Info("approval request decided", "request", id, "approved", v.Approved, "by", v.Approver, "reason", v.Reason)
	return w.req, nil
}

// List returns the pending requests, oldest first.
func (s *Store) List() []Request {
	s.mu.Lock()
	out := make([]Request, 0, len(s.pending))
	for _, w := range s.pending {
		out = append(out, w.req)
	}
	s.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].Created.Before(out[b].Created) })
	return out
}

// newID is short enough to type in `sluice approvals approve ID`, long enough not to guess.
func newID() string {
	return rand.Text()[:16]
}
