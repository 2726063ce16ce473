package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// psqlScript exercises psql's own machinery: catalog queries (\d), client-side COPY both
// ways, and a failing statement in the middle of a script that goes on. TBL and DIR are
// filled in per run, keeping the direct and the proxied run apart in one database.
const psqlScript = `\set ON_ERROR_STOP 0
create table TBL (id int primary key, note text not null default 'x');
insert into TBL select g, 'note ' || g from generate_series(1, 2000) g;
\d TBL
select count(*), sum(id) from TBL;
select 1/0;
select 'still here';
\copy TBL to 'DIR/TBL.csv' csv
create table TBL_back (like TBL);
\copy TBL_back from 'DIR/TBL.csv' csv
select count(*), sum(id), max(note) from TBL_back;
\copy (select id, note from TBL where id <= 3 order by id) to stdout
`

// Issue 3, acceptance 1-3 through the real redirect: an unmodified psql gets the same
// output, errors included, directly and through sluice; its cancel reaches the running
// statement; and it can ask for TLS (prefer, require) or not.
func TestPsqlThroughRedirect(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	run := func(cg, tbl string) (stdout, stderr string) {
		script := filepath.Join(w.dir, tbl+".sql")
		text := strings.NewReplacer("TBL", tbl, "DIR", w.dir).Replace(psqlScript)
		if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var o, e bytes.Buffer
		cmd := w.psqlCmd(cg == "", "-f", script)
		cmd.Stdout, cmd.Stderr = &o, &e
		var err error
		if cg == "" {
			err = cmd.Run()
		} else {
			testenv.Start(t, cg, cmd)
			err = cmd.Wait()
		}
		if err != nil {
			t.Fatalf("psql (%s): %v\n%s%s", tbl, err, o.String(), e.String())
		}
		norm := strings.NewReplacer(script, "SCRIPT", tbl, "TBL", w.dir, "DIR")
		return norm.Replace(o.String()), norm.Replace(e.String())
	}
	dOut, dErr := run("", "t_direct")
	vOut, vErr := run(cg, "t_via")
	if vOut != dOut || vErr != dErr {
		t.Errorf("through sluice:\n%s\n%s\nwant, as directly:\n%s\n%s", vOut, vErr, dOut, dErr)
	}
	for _, want := range []string{"note|text||not null|'x'::text", "2000|2001000", "still here", "2000|2001000|note 999", "3\tnote 3"} {
		if !strings.Contains(vOut, want) {
			t.Errorf("through sluice: no %q in\n%s", want, vOut)
		}
	}
	if !strings.Contains(vErr, "division by zero") {
		t.Errorf("through sluice: the failing statement's error is missing: %q", vErr)
	}

	// psql's cancel (SIGINT sends a CancelRequest on a new connection, which the kernel
	// redirects too) ends the statement at once.
	var o bytes.Buffer
	cmd := w.psqlCmd(false, "-c", "select pg_sleep(60)")
	cmd.Stdout, cmd.Stderr = &o, &o
	testenv.Start(t, cg, cmd)
	waitFor(t, "pg_sleep to run", func() bool {
		out, _ := w.db.Query(t.Context(), "select count(*) from pg_stat_activity where query = 'select pg_sleep(60)' and state = 'active'")
		return strings.TrimSpace(out) == "1"
	})
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	if took := time.Since(start); took > time.Second || !strings.Contains(o.String(), "canceling statement due to user request") {
		t.Errorf("cancel took %v: %s", took, o.String())
	}

	for mode, want := range map[string]string{"disable": "", "prefer": "SSL connection", "require": "SSL connection"} {
		cmd := w.psqlCmd(false, "-c", `\conninfo`, "-c", "select 'tls ok'")
		cmd.Env = append(cmd.Env, "PGSSLMODE="+mode)
		out, err := testenv.Output(cg, cmd)
		if err != nil || !strings.Contains(string(out), "tls ok") || strings.Contains(string(out), "SSL connection") != (want != "") {
			t.Errorf("sslmode=%s: %v\n%s", mode, err, out)
		}
	}
}

// A Go client that turns Multipath TCP on (net.Dialer.SetMultipathTCP) is governed like any
// other: the kernel connects its MPTCP socket through a TCP subflow in the client's cgroup,
// which the redirect sends to the proxy, so the database sees the agent's login and a
// destructive statement is denied. (internal/redirect tests the kernel side: the origin
// and getpeername.)
func TestMultipathTCPClientIsGoverned(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	out := strings.Join(w.pgxClient(cg, "whoami", "drop table anything", mptcpEnv+"=1"), "\n")
	if strings.Contains(out, "mptcp ok false") {
		t.Skipf("the connection did not use Multipath TCP (the kernel has none?): %s", out)
	}
	want := "mptcp ok true\nuser ok sluice_app\nbad err 42501"
	if out != want {
		t.Errorf("pgx over Multipath TCP in an enforced cgroup:\n%s\nwant:\n%s", out, want)
	}
}

// Issue 3, acceptance 4 through the real redirect: 200 concurrent sessions complete a
// pgbench run with no errors; afterwards the agent's goroutines, open files, sessions and
// the kernel's origin map entries are back to where they were.
func TestManySessionsReturnToBaseline(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	if out, err := w.pgbench(cg, "-i", "-s", "1", "-q"); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	pid := w.agent.cmd.Process.Pid
	type counts struct{ goroutines, fds, sessions, cookies, tuples float64 }
	measure := func() counts {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		return counts{
			goroutines: w.metric("go_goroutines"),
			fds:        float64(len(entries)),
			sessions:   w.metric(`sluice_sessions{mode="enforce"}`),
			cookies:    w.metric(`sluice_origin_map_entries{map="by_cookie"}`),
			tuples:     w.metric(`sluice_origin_map_entries{map="by_tuple"}`),
		}
	}
	base := measure()
	out, err := w.pgbench(cg, "-S", "-M", "prepared", "-c", "200", "-j", "2", "-t", "20", "-n")
	if err != nil || !strings.Contains(out, "number of transactions actually processed: 4000/4000") {
		t.Fatalf("pgbench with 200 clients: %v\n%s", err, out)
	}
	var now counts
	deadline := time.Now().Add(10 * time.Second)
	for {
		now = measure()
		if now.goroutines <= base.goroutines && now.fds <= base.fds && now.sessions == 0 &&
			now.cookies <= base.cookies && now.tuples <= base.tuples {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back to baseline after 200 sessions: %+v, baseline %+v", now, base)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("baseline %+v, after %+v", base, now)
}

// psqlCmd is psql against the address workloads dial: as the workload's role, which only
// the redirect turns into the agent's, or (direct) as the agent's role itself.
func (w *world) psqlCmd(direct bool, args ...string) *exec.Cmd {
	host, port, _ := net.SplitHostPort(w.dbAddr)
	user, password := "workload", workloadPassword
	if direct {
		user, password = "sluice_app", agentPassword
	}
	cmd := exec.Command("psql", append([]string{"-X", "-At", "-h", host, "-p", port, "-U", user, "-d", "app"}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	return cmd
}
