package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
)

// control serves the operator API on a unix socket. Who may call it is decided from the
// kernel's SO_PEERCRED: root, or a member of the configured group, and never a process
// that is itself inside a redirected cgroup (a workload must not switch off its own
// enforcement, even as root inside its container).
type control struct {
	a   *Agent
	gid uint32
	grp bool
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
}

func (a *Agent) startControl() error {
	cfg := a.cfg.Load()
	gid, grp, err := resolveGroup(cfg.Agent.ControlGroup)
	if err != nil {
		return err
	}
	path := cfg.Agent.ControlSocket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	// A stale socket from a killed agent would make Listen fail; nothing else may own it.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	mode := os.FileMode(0o600)
	if grp {
		mode = 0o660
		if err := os.Chown(path, 0, int(gid)); err != nil {
			ln.Close()
			return fmt.Errorf("control socket: %w", err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	c := &control{a: a, gid: gid, grp: grp, log: a.log, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", c.status)
	mux.HandleFunc("PUT /v1/mode", c.setMode)
	mux.HandleFunc("POST /v1/enroll", c.enroll)
	mux.HandleFunc("GET /v1/approvals", c.listApprovals)
	mux.HandleFunc("POST /v1/approvals/{id}/approve", c.decide(true))
	mux.HandleFunc("POST /v1/approvals/{id}/deny", c.decide(false))
	c.srv = &http.Server{Handler: c.authorize(mux), ConnContext: peerContext}
	go c.srv.Serve(ln)
	a.control = c
	return nil
}

func (c *control) close() error {
	err := c.srv.Close()
	if rerr := os.Remove(c.ln.Addr().String()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// authorize admits root or the control group, and refuses callers inside a redirected
// cgroup. Every decision is logged with the caller's credentials.
func (c *control) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := peerFrom(r.Context())
		if !ok {
			writeErr(w, http.StatusForbidden, errors.New("caller credentials unavailable"))
			return
		}
		if p.UID != 0 && !(c.grp && p.inGroup(c.gid)) {
			c.log.Warn("control API call refused: not root or in the control group", "caller", p.String(), "path", r.URL.Path)
			writeErr(w, http.StatusForbidden, fmt.Errorf("%s may not use the control API: root or the control group only", p))
			return
		}
		if mode, where, err := c.callerMode(p); err != nil || mode == origin.ModeEnforce || mode == origin.ModeAudit {
			if err == nil {
				err = fmt.Errorf("the caller runs in cgroup %s, which is in %s mode: a redirected workload cannot use the control API", where, mode)
			}
			c.log.Warn("control API call refused", "caller", p.String(), "path", r.URL.Path, "err", err)
			writeErr(w, http.StatusForbidden, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *control) callerMode(p peer) (origin.Mode, string, error) {
	path, err := p.cgroupPath()
	if err != nil {
		return origin.ModeUnset, "", fmt.Errorf("cannot tell the caller's cgroup: %w", err)
	}
	m, err := c.a.redirect.EffectiveMode(path)
	return m, path, err
}

func (c *control) status(w http.ResponseWriter, _ *http.Request) {
	st, err := c.a.status()
	if err != nil {
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (c *control) setMode(w http.ResponseWriter, r *http.Request) {
	var req ModeRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	mode := origin.ModeUnset
	if req.Mode != "unset" {
		var err error
		if mode, err = origin.ParseMode(req.Mode); err != nil {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
	}
	if err := c.a.redirect.SetMode(req.Cgroup, mode); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	p, _ := peerFrom(r.Context())
	abs, _ := cgroup.Resolve(req.Cgroup)
	name := cgroup.Name(abs)
	c.log.Info("cgroup mode changed", "cgroup", name, "mode", req.Mode, "by", p.String())
	warning := delegationWarning(abs, mode)
	if warning != "" {
		c.log.Warn("cgroup mode does not hold against every workload", "cgroup", name, "mode", req.Mode, "warning", warning)
	}
	writeJSON(w, http.StatusOK, ModeStatus{Cgroup: name, Mode: req.Mode, Warning: warning})
}

func (c *control) listApprovals(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.a.approvals.List())
}

// decide records who approved or denied a held statement, from the caller's kernel
// credentials, in the audit log before the statement is released or refused.
func (c *control) decide(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req DecisionRequest
		if r.ContentLength != 0 {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
				return
			}
		}
		p, _ := peerFrom(r.Context())
		id := r.PathValue("id")
		action := map[bool]string{true: "approve", false: "deny"}[approve]
		err := c.a.audit.Append(&audit.AgentAction{Actor: p.String(), Action: action,
			Details: map[string]string{"request": id, "reason": req.Reason}})
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, fmt.Errorf("the decision cannot be audited, so it was not applied: %w", err))
			return
		}
		held, err := c.a.approvals.Decide(id, approvals.Verdict{Approved: approve, Approver: p.String(), Reason: req.Reason})
		if errors.Is(err, approvals.ErrUnknown) {
			writeErr(w, http.StatusNotFound, err)
			return
		}
		if err != nil {
			writeErr(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, held)
	}
}

// maxTokenBody bounds an enrollment request: OIDC tokens are a few KB.
const maxTokenBody = 64 << 10

func (c *control) enroll(w http.ResponseWriter, r *http.Request) {
	var req EnrollRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxTokenBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("bad request body: %w", err))
		return
	}
	e, err := c.a.identities.Enroll(r.Context(), req.Cgroup, req.Token)
	if err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	p, _ := peerFrom(r.Context())
	c.log.Info("cgroup enrolled", "cgroup", e.Cgroup, "issuer", e.Identity.Issuer, "subject", e.Identity.Subject,
		"groups", e.Identity.Groups, "expiry", e.Identity.Expiry, "token_id", e.Identity.TokenID, "by", p.String())
	writeJSON(w, http.StatusOK, enrollmentStatus(e))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}
