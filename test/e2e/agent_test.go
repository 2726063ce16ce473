package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

func (w *world) status() agent.Status {
	w.t.Helper()
	var st agent.Status
	if err := json.Unmarshal([]byte(w.mustSluice("status", "--json")), &st); err != nil {
		w.t.Fatal(err)
	}
	return st
}

func modeOf(st agent.Status, cg string) string {
	for _, m := range st.Modes {
		if m.Cgroup == cgroup.Name(cg) {
			return m.Mode
		}
	}
	return "unset"
}

// Issue 4, acceptance 2: `sluice enforce` puts a cgroup behind the proxy; `--mode off`
// makes the next connection direct; status reports both.
func TestEnforceAndOffThroughTheCLI(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	if got := modeOf(w.status(), cg); got != "enforce" {
		t.Errorf("status: mode %s, want enforce", got)
	}
	// Through the proxy the database sees the agent's login, never the workload's.
	if out, err := w.psql(cg, "select current_user"); err != nil || out != "sluice_app" {
		t.Fatalf("enforced psql: %q %v, want it to run as sluice_app through the proxy", out, err)
	}

	w.mustSluice("enforce", cg, "--mode", "off")
	if got := modeOf(w.status(), cg); got != "off" {
		t.Errorf("status: mode %s, want off", got)
	}
	if out, err := w.psql(cg, "select current_user"); err != nil || out != "workload" {
		t.Fatalf("psql with mode off: %q %v, want a direct connection as workload", out, err)
	}
}

// A session that began in audit mode does not keep unenforced access once the security
// team enforces its cgroup: its next statement ends it as an administrator's termination
// would (57P01), and the reconnect is enforced. A session that began enforced stays so
// when its cgroup is relaxed to audit, until it ends.
func TestLiveSessionsFollowASwitchToEnforce(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	const denied = "alter system set work_mem = '4MB'" // default/alter-system
	cg := w.enforced("job-1")
	enforced := w.startPsql(cg)
	defer enforced.close()
	if out := enforced.query("select 'connected'"); !strings.Contains(out, "connected") {
		t.Fatalf("enforce-mode session: %q", out)
	}
	w.mustSluice("enforce", cg, "--mode", "audit")
	audited := w.startPsql(cg)
	defer audited.close()
	if out := audited.query("select 'audited'"); !strings.Contains(out, "audited") {
		t.Fatalf("audit-mode session: %q", out)
	}
	if out := enforced.query(denied); !strings.Contains(out, "denied by rule default/alter-system") {
		t.Errorf("session opened enforced, cgroup now in audit mode: %q, want still denied", out)
	}

	w.mustSluice("enforce", cg, "--mode", "enforce")
	if out := audited.query("select 'still unenforced?'"); strings.Contains(out, "still unenforced?") || !strings.Contains(out, "now enforced") {
		t.Errorf("audit-mode session after its cgroup was enforced: %q, want it ended", out)
	}
	if out, err := w.psql(cg, denied); err == nil || !strings.Contains(out, "denied by rule default/alter-system") {
		t.Errorf("reconnected: %q %v, want the statement denied", out, err)
	}
	if out := enforced.query("select 'enforced'"); !strings.Contains(out, "enforced") {
		t.Errorf("enforce-mode session after the switch back: %q, want it untouched", out)
	}
}

// A cgroup inside a subtree delegated to a user does not hold that user's processes
// (internal/redirect's TestEscapeByMovingCgroup shows them moving out): `sluice enforce`
// and `sluice status` warn and name the cgroup to enforce instead, which then draws no
// warning; a cgroup below no delegation draws none either.
func TestEnforceWarnsInsideDelegatedSubtree(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	plain := testenv.Cgroup(t, w.root)
	if out := w.mustSluice("enforce", plain); strings.Contains(out, "warning") {
		t.Errorf("enforcing a cgroup below no delegation: %q", out)
	}

	delegated := testenv.Cgroup(t, w.root)
	job := testenv.Cgroup(t, delegated)
	testenv.DelegateCgroup(t, delegated, 65534)
	out := w.mustSluice("enforce", job)
	want := "set the mode on " + cgroup.Name(delegated) + " instead"
	if !strings.Contains(out, "warning: ") || !strings.Contains(out, "delegated to uid 65534") || !strings.Contains(out, want) {
		t.Errorf("enforcing inside a delegated subtree: %q, want a warning naming %s", out, cgroup.Name(delegated))
	}
	if out := w.mustSluice("status"); !strings.Contains(out, want) {
		t.Errorf("status does not repeat the warning:\n%s", out)
	}
	for _, m := range w.status().Modes {
		if (m.Cgroup == cgroup.Name(job)) != (m.Warning != "") {
			t.Errorf("status --json: %s has warning %q", m.Cgroup, m.Warning)
		}
	}

	if out := w.mustSluice("enforce", delegated); strings.Contains(out, "warning") {
		t.Errorf("enforcing the delegation root: %q", out)
	}
}

// Issue 4, acceptance 3: a non-root caller is refused, and so is root inside an enforced
// cgroup (a workload must not switch off its own enforcement).
func TestControlSocketRefusesWorkloads(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")

	nobody := exec.Command(sluiceBin, "--socket", w.socket, "enforce", cg, "--mode", "off")
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := nobody.CombinedOutput(); err == nil {
		t.Errorf("uid 65534 changed a mode: %s", out)
	}

	inside := exec.Command(sluiceBin, "--socket", w.socket, "enforce", cg, "--mode", "off")
	out, err := testenv.Output(cg, inside)
	if err == nil || !strings.Contains(string(out), "redirected workload cannot use the control API") {
		t.Errorf("root inside the enforced cgroup: err %v, output %s; want refused", err, out)
	}
	if got := modeOf(w.status(), cg); got != "enforce" {
		t.Errorf("mode after the refused calls: %s, want enforce", got)
	}
}

// Issue 4, acceptance 3: a misspelt key fails at start naming the line; a broken SIGHUP
// reload keeps serving with the old configuration.
func TestConfigErrorsAtStartAndReload(t *testing.T) {
	w := newWorld(t)
	good, err := readFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	w.writeConfig(strings.Replace(good, "drain_timeout:", "drain_timout:", 1))
	out, err := exec.Command(sluiceBin, "agent", "--config", w.config).CombinedOutput()
	if err == nil || !regexp.MustCompile(regexp.QuoteMeta(w.config)+`:6: unknown key "drain_timout"`).Match(out) {
		t.Fatalf("start with a misspelt key: err %v, output %s", err, out)
	}

	w.writeConfig(good)
	w.startAgent()
	cg := w.enforced("job-1")
	w.writeConfig(strings.Replace(good, "proxy_port:", "proxy_prot:", 1))
	defer w.writeConfig(good) // the cleanup's --uninstall reads it
	w.agent.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the refused reload in the log", func() bool { return strings.Contains(w.agent.out.String(), "reload refused") })
	if !strings.Contains(w.agent.out.String(), `unknown key \"proxy_prot\"`) {
		t.Errorf("reload error does not name the key:\n%s", w.agent.out)
	}
	if out, err := w.psql(cg, "select current_user"); err != nil || out != "sluice_app" {
		t.Fatalf("after the broken reload: %q %v", out, err)
	}
}

// Issue 4, acceptance 4: SIGKILL of the agent during a pgbench run: nothing reaches the
// database directly while it is down; after a restart sessions work within 2 s, modes
// intact.
func TestAgentKilledFailsClosedAndRecovers(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	if out, err := w.pgbench(cg, "-i", "-s", "1"); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}

	bench := w.pgbenchCmd("-c", "4", "-T", "30", "-S", "-n")
	if err := cgroup.StartIn(cg, bench); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bench.Process.Kill(); bench.Wait() })
	time.Sleep(time.Second)
	w.agent.cmd.Process.Signal(syscall.SIGKILL)
	<-w.agent.done
	w.agent = nil

	// While the agent is down: refused, and never direct.
	for range 5 {
		if out, err := w.psql(cg, "select current_user"); err == nil {
			t.Fatalf("psql succeeded while the agent was down: %q", out)
		}
	}
	start := time.Now()
	w.startAgent()
	var ok bool
	for time.Since(start) < 2*time.Second {
		if out, err := w.psql(cg, "select current_user"); err == nil && out == "sluice_app" {
			ok = true
			break
		}
	}
	if !ok {
		t.Errorf("no working session within 2 s of the restart")
	}
	t.Logf("first session after restart: %v", time.Since(start))
	if got := modeOf(w.status(), cg); got != "enforce" {
		t.Errorf("mode after restart: %s, want enforce", got)
	}
	log, err := w.db.Log()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log, "user=workload") {
		t.Errorf("the database saw the workload's own login: an enforced connection went direct")
	}
}

// Issue 4, acceptance 5: the metrics endpoint's counters move under load.
func TestMetricsMoveUnderLoad(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	before := w.metric(`sluice_connects_total{outcome="redirected"}`)
	for range 5 {
		if _, err := w.psql(cg, "select 1"); err != nil {
			t.Fatal(err)
		}
	}
	after := w.metric(`sluice_connects_total{outcome="redirected"}`)
	if after < before+5 {
		t.Errorf("redirected connects went from %v to %v after 5 sessions", before, after)
	}
	if n := w.metric(`sluice_statements_total{decision="allow"}`); n < 5 {
		t.Errorf("allowed statements counted: %v, want >= 5", n)
	}
	if n := w.metric(`sluice_statement_overhead_seconds_count`); n < 5 {
		t.Errorf("statement overhead observations: %v, want >= 5", n)
	}
	// Five sessions: a start, a statement, an outcome and an end each, written within
	// the sync window.
	time.Sleep(50 * time.Millisecond)
	if n := w.metric(`sluice_audit_records_total{result="written"}`); n < 20 {
		t.Errorf("audit records written: %v, want >= 20", n)
	}
	if n := w.metric(`sluice_audit_records_total{result="failed"}`); n != 0 {
		t.Errorf("audit records failed: %v", n)
	}
	if w.metric(`sluice_audit_writes_total`) < 1 || w.metric(`sluice_audit_fsyncs_total`) < 1 || w.metric(`sluice_audit_bytes_total`) < 1000 {
		t.Error("the audit log's writes, fsyncs or bytes did not move")
	}
}

// metric scrapes the endpoint with curl, as an operator would, and reads one sample.
func (w *world) metric(name string) float64 {
	w.t.Helper()
	out, err := exec.Command("curl", "-sf", "http://"+w.metrics+"/metrics").Output()
	if err != nil {
		w.t.Fatalf("curl metrics: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				w.t.Fatal(err)
			}
			return v
		}
	}
	w.t.Fatalf("metric %s not exposed:\n%s", name, out)
	return 0
}

func (w *world) pgbenchCmd(args ...string) *exec.Cmd {
	host, port, _ := strings.Cut(w.dbAddr, ":")
	cmd := exec.Command("pgbench", append([]string{"-h", host, "-p", port, "-U", "workload"}, append(args, "app")...)...)
	cmd.Env = append(cmd.Environ(), "PGPASSWORD="+workloadPassword, "PGSSLMODE=disable")
	return cmd
}

func (w *world) pgbench(cg string, args ...string) (string, error) {
	out, err := testenv.Output(cg, w.pgbenchCmd(args...))
	return string(out), err
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
