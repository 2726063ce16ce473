package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/oidclocal"
	"github.com/sluicehq/sluice/internal/pglocal"
)

const agentPassword = "demo-agent-secret"

// schema is the demo's database: a table of the kind of personal data an agent must not
// walk away with.
const schema = `
CREATE ROLE sluice_app LOGIN PASSWORD '` + agentPassword + `';
CREATE DATABASE app OWNER sluice_app;
\c app
SET ROLE sluice_app;
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, ssn text, card text);
INSERT INTO customers VALUES
  (1, 'Ada Lovelace', 'ada@example.com', '078-05-1120', '4111 1111 1111 1111'),
  (2, 'Alan Turing',  'alan@example.com', '219-09-9999', '5500 0000 0000 0004'),
  (3, 'Grace Hopper', 'grace@example.com', '457-55-5462', '3400 0000 0000 009');
`

// maskingRules keep personal data from the agent, keyed on where values come from.
const maskingRules = `rules:
  - name: ssn
    columns: ["public.customers.ssn"]
    strategy: partial
    keep_last: 4
  - name: card
    columns: ["public.customers.card"]
    strategy: partial
    keep_last: 4
  - name: email
    columns: ["public.customers.email"]
    strategy: email
`

// script is what the "AI agent" runs, unmodified psql, no password. The DROP is the kind
// of statement an agent should never get through.
const script = `\pset footer off
select current_user as logged_in_as;
select id, name, email, ssn, card from customers order by id;
drop table customers;
select count(*) as customers_still_there from customers;
`

func startDatabase(ctx context.Context) (*pglocal.Server, error) {
	db, err := pglocal.Start(ctx, pglocal.Options{
		ListenAddresses: "127.0.0.1,127.0.0.2",
		HostAuth:        "scram-sha-256",
		Settings:        []pglocal.Setting{{Name: "log_connections", Value: "on"}},
	})
	if err != nil {
		return nil, err
	}
	if err := db.Exec(ctx, schema); err != nil {
		db.Stop()
		return nil, err
	}
	return db, nil
}

// workspace is the demo's private corner of the machine.
type workspace struct {
	dir, pins, root, socket string
}

func newWorkspace(undo *cleanups) (*workspace, error) {
	w := &workspace{}
	var err error
	if w.dir, err = os.MkdirTemp("", "sluice-demo-"); err != nil {
		return nil, err
	}
	undo.add(func() error { return os.RemoveAll(w.dir) })
	w.pins = filepath.Join(w.dir, "bpffs")
	if err := os.Mkdir(w.pins, 0o700); err != nil {
		return nil, err
	}
	if err := unix.Mount("bpf", w.pins, "bpf", 0, ""); err != nil {
		return nil, fmt.Errorf("mount bpffs: %w", err)
	}
	undo.add(func() error { return unix.Unmount(w.pins, unix.MNT_DETACH) })
	mount, err := cgroup.Mount()
	if err != nil {
		return nil, err
	}
	if w.root, err = cgroup.Create(mount, "sluice-demo-"); err != nil {
		return nil, err
	}
	undo.add(func() error { return cgroup.Remove(w.root) })
	w.socket = filepath.Join(w.dir, "control.sock")
	return w, nil
}

// agentProc is the real agent, started from this binary with a generated config.
type agentProc struct {
	cmd    *exec.Cmd
	socket string
	log    bytes.Buffer
	mu     sync.Mutex
}

func (a *agentProc) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.Write(p)
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

func (a *agentProc) status(ctx context.Context) *agent.Status {
	st, err := agent.NewClient(a.socket).Status(ctx)
	if err != nil {
		return &agent.Status{}
	}
	return st
}

func startAgent(ctx context.Context, w *workspace, db *pglocal.Server, idp *oidclocal.Issuer, undo *cleanups) (*agentProc, error) {
	pw := filepath.Join(w.dir, "app.password")
	if err := os.WriteFile(pw, []byte(agentPassword), 0o600); err != nil {
		return nil, err
	}
	proxyPort, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := audit.WriteKeyPair(filepath.Join(w.dir, "audit.key"), filepath.Join(w.dir, "audit.pub")); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w.dir, "masking.yaml"), []byte(maskingRules), 0o600); err != nil {
		return nil, err
	}
	cfg := filepath.Join(w.dir, "sluice.yaml")
	err = os.WriteFile(cfg, []byte(fmt.Sprintf(`agent:
  pin_dir: %s/sluice
  cgroup_root: %s
  control_socket: %s
  drain_timeout: 2s
redirect:
  ports: [%d]
  proxy_port: %d
  node_local:
    interface: sluicedemo0
    ipv4: 169.254.20.55
targets:
  - name: app
    destinations: ["127.0.0.2:%d", "%s:%d"]
    host: 127.0.0.1
    port: %d
    user: sluice_app
    password_file: %s
    tls: disable
masking:
  rules_file: %s/masking.yaml
audit:
  dir: %s/audit
  key_file: %s/audit.key
identity:
  enrollments_file: %s/enrollments.json
  issuers:
    - issuer: %s
      ca_file: %s
      audiences: [%s]
      bindings:
        - claims: {repository: ["octo-org/app"]}
          groups: [ci]
`, w.pins, w.root, w.socket, db.Port, proxyPort, db.Port, containerHost, db.Port, db.Port, pw, w.dir, w.dir, w.dir, w.dir, idp.URL(), idp.CAFile(), oidclocal.Audience)), 0o600)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a := &agentProc{socket: w.socket}
	a.cmd = exec.Command(self, "agent", "--config", cfg)
	a.cmd.Stdout, a.cmd.Stderr = a, a
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := a.cmd.Start(); err != nil {
		return nil, err
	}
	undo.add(func() error {
		a.cmd.Process.Signal(syscall.SIGTERM)
		a.cmd.Wait()
		out, err := exec.Command(self, "agent", "--uninstall", "--config", cfg).CombinedOutput()
		if err != nil {
			return fmt.Errorf("uninstall: %v: %s", err, out)
		}
		return nil
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := agent.NewClient(w.socket).Status(ctx); err == nil {
			return a, nil
		}
		if time.Now().After(deadline) {
			a.mu.Lock()
			defer a.mu.Unlock()
			return nil, fmt.Errorf("the agent did not come up:\n%s", a.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runJob(cg, dbAddr string) (string, error) {
	host, port, _ := net.SplitHostPort(dbAddr)
	cmd := exec.Command("psql", "-X", "-w", "-h", host, "-p", port, "-U", "ci", "-d", "app")
	cmd.Stdin = strings.NewReader(script)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5", "PGSSLMODE=prefer")
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cgroup.StartIn(cg, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return b.String(), err
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanups undoes set-up steps in reverse order.
type cleanups []func() error

func (c *cleanups) add(f func() error) { *c = append(*c, f) }

func (c cleanups) run() error {
	var errs []error
	for i := len(c) - 1; i >= 0; i-- {
		errs = append(errs, c[i]())
	}
	return errors.Join(errs...)
}

// startIssuer plays the CI platform's OIDC provider and mints the job's id token.
func startIssuer(undo *cleanups) (*oidclocal.Issuer, string, error) {
	idp, err := oidclocal.Start()
	if err != nil {
		return nil, "", err
	}
	undo.add(idp.Close)
	if err := idp.AddKey("ci", jose.ES256, true); err != nil {
		return nil, "", err
	}
	claims := idp.Claims("repo:octo-org/app:ref:refs/heads/main", time.Now())
	claims["repository"] = "octo-org/app"
	tok, err := idp.Sign("ci", claims)
	return idp, tok, err
}

// sluice runs this binary's CLI (the audit subcommands), as an operator would.
func sluice(args ...string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(self, args...).CombinedOutput()
	return string(out), err
}
