package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/sluicehq/sluice/internal/approvals"
)

// Client talks to a running agent's control socket; the CLI's subcommands use it.
type Client struct {
	http *http.Client
	path string
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	return &Client{
		path: path,
		http: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			}},
		},
	}
}

// Status fetches the agent's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	return &st, c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
}

// SetMode sets a cgroup's mode ("unset" clears it).
func (c *Client) SetMode(ctx context.Context, cgroupPath, mode string) (*ModeStatus, error) {
	var ms ModeStatus
	return &ms, c.do(ctx, http.MethodPut, "/v1/mode", ModeRequest{Cgroup: cgroupPath, Mode: mode}, &ms)
}

// Enroll binds a verified token to a cgroup.
func (c *Client) Enroll(ctx context.Context, cgroupPath, token string) (*EnrollmentStatus, error) {
	var es EnrollmentStatus
	return &es, c.do(ctx, http.MethodPost, "/v1/enroll", EnrollRequest{Cgroup: cgroupPath, Token: token}, &es)
}

// Approvals lists the statements held for approval.
func (c *Client) Approvals(ctx context.Context) ([]approvals.Request, error) {
	var out []approvals.Request
	return out, c.do(ctx, http.MethodGet, "/v1/approvals", nil, &out)
}

// Decide approves or denies a held statement.
func (c *Client) Decide(ctx context.Context, id string, approve bool, reason string) (*approvals.Request, error) {
	action := "deny"
	if approve {
		action = "approve"
	}
	var r approvals.Request
	return &r, c.do(ctx, http.MethodPost, "/v1/approvals/"+url.PathEscape(id)+"/"+action, DecisionRequest{Reason: reason}, &r)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://sluice"+path, &body)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("control socket %s: %w (is the agent running, and are you root?)", c.path, err)
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("control API: %s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
