package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice/internal/oidclocal"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// Passwords of the database roles the tests use. "workload" is what a job would use
// directly; "sluice_app" is the agent's own login, which only the agent knows.
const (
	agentPassword    = "agent-secret"
	workloadPassword = "workload-secret"
)

// testPolicy is the shipped default pack, with pgbench's own set-up allowed for CI jobs.
const testPolicy = `default: allow
rules:
  - name: pgbench-setup
    match:
      groups: [ci]
      objects: ["pgbench_*"]
      commands: ["DROP TABLE", "TRUNCATE TABLE"]
    action: allow
  - name: note-reads
    match:
      objects: [noted]
    action: warn
    message: reads of noted are reported
  - name: hold-deletes
    match:
      objects: [guarded]
      commands: [DELETE]
    action: review
    message: deleting from guarded needs a human
  - pack: default
`

// world is one agent in front of one database, with an attach root of its own.
type world struct {
	t      testing.TB
	db     *pglocal.Server
	dbAddr string // where workloads believe the database is (127.0.0.2:PORT by default)
	// nodeLocal is the node-local proxy address of this world's agent.
	nodeLocal string
	root      string // the agent's attach root (a test cgroup)
	dir       string
	config    string
	socket    string
	metrics   string
	agent     *agentProc
	issuer    *oidclocal.Issuer
	webhook   *webhookRecorder
}

type agentProc struct {
	cmd  *exec.Cmd
	out  *testenv.SyncBuffer
	done chan error
}

// dbPlace says where a world's database runs and how it is reached.
type dbPlace struct {
	netns    string // network namespace of the server; "" = the machine's
	listen   string // listen_addresses
	upstream string // the address the agent connects to
	workload string // the address workloads dial
}

// onLoopback is the default: the database on the machine's loopback, where workloads
// believe it is at 127.0.0.2 and the agent reaches it at 127.0.0.1.
var onLoopback = dbPlace{listen: "127.0.0.1,127.0.0.2", upstream: "127.0.0.1", workload: "127.0.0.2"}

func newWorld(t testing.TB) *world {
	t.Helper()
	return newWorldWithDB(t, onLoopback)
}

// nodeLocalSeq numbers node-local interfaces within this test process (tests of one
// package run one at a time; the pid keeps test binaries apart).
var nodeLocalSeq int

func newWorldWithDB(t testing.TB, place dbPlace) *world {
	t.Helper()
	testenv.RequireRoot(t)
	w := &world{t: t, dir: t.TempDir(), root: testenv.Cgroup(t, "")}
	w.db = testenv.Postgres(t, pglocal.Options{
		Netns:           place.netns,
		ListenAddresses: place.listen,
		HostAuth:        "scram-sha-256",
		Settings: []pglocal.Setting{
			{Name: "log_connections", Value: "on"},
			{Name: "max_connections", Value: "300"},
			// The database's own statement log proves what did (and did not) reach it.
			{Name: "log_statement", Value: "all"},
			{Name: "log_line_prefix", Value: "%m [%p] user=%u "},
		},
	})
	ctx := context.Background()
	for _, sql := range []string{
		fmt.Sprintf("CREATE ROLE sluice_app LOGIN PASSWORD '%s'", agentPassword),
		fmt.Sprintf("CREATE ROLE workload LOGIN PASSWORD '%s'", workloadPassword),
		"CREATE DATABASE app OWNER sluice_app",
	} {
		if err := w.db.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	w.dbAddr = net.JoinHostPort(place.workload, strconv.Itoa(w.db.Port))
	nodeLocalSeq++
	w.nodeLocal = fmt.Sprintf("169.254.%d.%d", 100+os.Getpid()%100, nodeLocalSeq%250+1)
	pwFile := filepath.Join(w.dir, "app.password")
	if err := os.WriteFile(pwFile, []byte(agentPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.issuer = startIssuer(t)
	if err := os.WriteFile(filepath.Join(w.dir, "policy.yaml"), []byte(testPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sluiceBin, "audit", "keygen", "--key", filepath.Join(w.dir, "audit.key"),
		"--pubkey", filepath.Join(w.dir, "audit.pub")).CombinedOutput(); err != nil {
		t.Fatalf("sluice audit keygen: %v\n%s", err, out)
	}
	w.webhook = startWebhook(t)
	w.socket = filepath.Join(w.dir, "control.sock")
	w.metrics = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w.config = filepath.Join(w.dir, "sluice.yaml")
	w.writeConfig(fmt.Sprintf(`agent:
  pin_dir: %s/sluice
  cgroup_root: %s
  control_socket: %s
  metrics_address: %s
  drain_timeout: 5s
redirect:
  ports: [%d]
  proxy_port: %d
  node_local:
    interface: slt%d
    ipv4: %s
targets:
  - name: app
    destinations: ["%s"]
    host: %s
    port: %d
    user: sluice_app
    password_file: %s
    tls: disable
approvals:
  timeout: 3s
  webhook_url: %s
policy:
  rules_file: %s/policy.yaml
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
        - claims: {repository_id: ["42"]}
          groups: [ci]
`, testenv.BPFFS(t), w.root, w.socket, w.metrics, w.db.Port, freePort(t), os.Getpid()%100000, w.nodeLocal,
		w.dbAddr, place.upstream, w.db.Port, pwFile,
		w.webhook.url, w.dir, w.dir, w.dir, w.dir, w.issuer.URL(), w.issuer.CAFile(), oidclocal.Audience))
	t.Cleanup(func() {
		w.stopAgent(syscall.SIGTERM)
		out, err := exec.Command(sluiceBin, "agent", "--uninstall", "--config", w.config).CombinedOutput()
		if err != nil {
			t.Errorf("sluice agent --uninstall: %v\n%s", err, out)
		}
	})
	return w
}

func (w *world) writeConfig(body string) {
	w.t.Helper()
	if err := os.WriteFile(w.config, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// startAgent runs `sluice agent` and waits until its control socket answers.
func (w *world) startAgent() {
	w.t.Helper()
	p := &agentProc{cmd: exec.Command(sluiceBin, "agent", "--config", w.config), out: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	w.agent = p
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := w.sluice("status"); err == nil {
			return
		}
		select {
		case err := <-p.done:
			w.t.Fatalf("agent exited: %v\n%s", err, p.out)
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("agent not ready after 10s:\n%s", p.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (w *world) stopAgent(sig syscall.Signal) {
	if w.agent == nil {
		return
	}
	w.agent.cmd.Process.Signal(sig)
	select {
	case <-w.agent.done:
	case <-time.After(15 * time.Second):
		w.agent.cmd.Process.Kill()
		<-w.agent.done
	}
	w.t.Logf("agent log:\n%s", w.agent.out)
	w.agent = nil
}

// sluice runs a CLI subcommand against this world's control socket.
func (w *world) sluice(args ...string) (string, error) {
	cmd := exec.Command(sluiceBin, append([]string{"--socket", w.socket}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (w *world) mustSluice(args ...string) string {
	w.t.Helper()
	out, err := w.sluice(args...)
	if err != nil {
		w.t.Fatalf("sluice %v: %v\n%s", args, err, out)
	}
	return out
}

// psql runs an unmodified psql in cgroup cg against the address workloads use. It offers
// the workload's own password, which only a direct connection would need.
func (w *world) psql(cg string, sql string) (string, error) {
	return w.psqlIn("", cg, sql)
}

// psqlIn is psql started in network namespace ns (a container's) and cgroup cg at once.
func (w *world) psqlIn(ns, cg string, sql string) (string, error) {
	host, port, _ := net.SplitHostPort(w.dbAddr)
	cmd := testenv.NetnsCommand(context.Background(), ns, "psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "workload", "-d", "app", "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+workloadPassword, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	out, err := testenv.Output(cg, cmd)
	return strings.TrimSpace(string(out)), err
}

// startIssuer runs an in-process OIDC provider with one ES256 key, "k1".
func startIssuer(t testing.TB) *oidclocal.Issuer {
	t.Helper()
	is, err := oidclocal.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	if err := is.AddKey("k1", jose.ES256, true); err != nil {
		t.Fatal(err)
	}
	return is
}

// token mints a CI job token for sub (repository 42) that expires after ttl.
func (w *world) token(sub string, ttl time.Duration) string {
	w.t.Helper()
	now := time.Now()
	claims := w.issuer.Claims(sub, now)
	claims["repository_id"] = "42"
	claims["exp"] = now.Add(ttl).Unix()
	tok, err := w.issuer.Sign("k1", claims)
	if err != nil {
		w.t.Fatal(err)
	}
	return tok
}

// enroll binds a fresh token for sub to cgroup cg through the CLI, as a CI runner hook does.
func (w *world) enroll(cg, sub string, ttl time.Duration) {
	w.t.Helper()
	w.enrollToken(cg, w.token(sub, ttl))
}

// enrollToken binds token to cgroup cg through the CLI.
func (w *world) enrollToken(cg, token string) {
	w.t.Helper()
	cmd := exec.Command(sluiceBin, "--socket", w.socket, "enroll", cg, "--token", "-")
	cmd.Stdin = strings.NewReader(token)
	if out, err := cmd.CombinedOutput(); err != nil {
		w.t.Fatalf("sluice enroll: %v\n%s", err, out)
	}
}

// enforced makes a cgroup below the attach root, enrolled as sub and enforced.
func (w *world) enforced(sub string) string {
	w.t.Helper()
	cg := testenv.Cgroup(w.t, w.root)
	w.enroll(cg, sub, 10*time.Minute)
	w.mustSluice("enforce", cg)
	return cg
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// webhookRecorder is the chat system an approval webhook posts to.
type webhookRecorder struct {
	url  string
	mu   sync.Mutex
	msgs []string
}

func startWebhook(t testing.TB) *webhookRecorder {
	r := &webhookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.msgs = append(r.msgs, string(b))
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *webhookRecorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}
