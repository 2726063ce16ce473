package e2e

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

// Issue 5, acceptance 3: an enrolled cgroup's sessions carry subject and groups (status);
// an unenrolled enforced cgroup gets FATAL 28000 saying how to enroll it.
func TestSessionsCarryVerifiedIdentity(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("octo-org/app")

	s := w.startPsql(cg)
	s.query("select 1")
	st := w.status()
	if len(st.Sessions) != 1 || st.Sessions[0].Subject != "octo-org/app" || strings.Join(st.Sessions[0].Groups, ",") != "ci" {
		t.Errorf("status sessions = %+v, want one as octo-org/app in group ci", st.Sessions)
	}
	if len(st.Enrollments) != 1 || st.Enrollments[0].Cgroup != cgroup.Name(cg) {
		t.Errorf("status enrollments = %+v", st.Enrollments)
	}
	s.close()
	if starts := w.auditSessionStarts(); len(starts) != 1 || starts[0].Identity == nil ||
		starts[0].Identity.Subject != "octo-org/app" || strings.Join(starts[0].Identity.Groups, ",") != "ci" ||
		starts[0].Cgroup.Path != cgroup.Name(cg) {
		t.Errorf("audit session_start records = %+v, want one carrying octo-org/app, group ci, cgroup %s", starts, cgroup.Name(cg))
	}

	bare := testenv.Cgroup(t, w.root)
	w.mustSluice("enforce", bare)
	out, err := w.psql(bare, "select 1")
	if err == nil || !strings.Contains(out, "FATAL:  cgroup "+cgroup.Name(bare)+" has no verified identity; enroll it with: sluice enroll") {
		t.Errorf("unenrolled enforced cgroup: %v\n%s", err, out)
	}
}

// Issue 5, acceptance 3: a token expiring mid-session ends it at the next statement;
// re-enrolling with a fresh token before expiry keeps it alive.
func TestGrantLastsAsLongAsTheToken(t *testing.T) {
	w := newWorld(t)
	w.startAgent()

	expiring := testenv.Cgroup(t, w.root)
	w.enroll(expiring, "job-1", 3*time.Second)
	w.mustSluice("enforce", expiring)
	refreshed := testenv.Cgroup(t, w.root)
	w.enroll(refreshed, "job-2", 3*time.Second)
	w.mustSluice("enforce", refreshed)

	a, b := w.startPsql(expiring), w.startPsql(refreshed)
	a.query("select 1")
	b.query("select 1")
	w.enroll(refreshed, "job-2", 10*time.Minute) // the CI hook refreshes before expiry
	time.Sleep(4 * time.Second)
	if out := a.query("select 2"); !strings.Contains(out, "FATAL:") || !strings.Contains(out, "expired") {
		t.Errorf("statement after the token expired: %q, want the session ended with FATAL", out)
	}
	if out := b.query("select 2"); strings.TrimSpace(out) != "2" {
		t.Errorf("statement after re-enrollment: %q, want the session alive", out)
	}
	a.close()
	b.close()
}

// Issue 5, acceptance 4: `sluice enroll` from a non-root caller is refused.
func TestEnrollRefusedForNonRoot(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := testenv.Cgroup(t, w.root)
	cmd := exec.Command(sluiceBin, "--socket", w.socket, "enroll", cg, "--token", "-")
	cmd.Stdin = strings.NewReader(w.token("job-1", time.Minute))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("uid 65534 enrolled a cgroup: %s", out)
	}
	if st := w.status(); len(st.Enrollments) != 0 {
		t.Errorf("enrollments after the refused call: %+v", st.Enrollments)
	}
}

// psqlSession is an interactive psql in a cgroup, fed one statement at a time.
type psqlSession struct {
	t   testing.TB
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startPsql starts psql in cg with a marker printed after every statement, so a test can
// read exactly one statement's output, errors included.
func (w *world) startPsql(cg string) *psqlSession {
	w.t.Helper()
	host, port, _ := net.SplitHostPort(w.dbAddr)
	cmd := exec.Command("psql", "-X", "-At", "-h", host, "-p", port, "-U", "workload", "-d", "app")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+workloadPassword, "PGSSLMODE=disable")
	in, err := cmd.StdinPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	testenv.Start(w.t, cg, cmd)
	go func() { cmd.Wait(); pw.Close() }()
	return &psqlSession{t: w.t, cmd: cmd, in: in, out: bufio.NewReader(pr)}
}

const psqlMarker = "--sluice-test-marker--"

// query runs one statement and returns what psql printed for it.
func (s *psqlSession) query(sql string) string {
	s.t.Helper()
	io.WriteString(s.in, sql+";\n\\echo "+psqlMarker+"\n")
	var b strings.Builder
	for {
		line, err := s.out.ReadString('\n')
		if strings.TrimSpace(line) == psqlMarker {
			return b.String()
		}
		b.WriteString(line)
		if err != nil {
			return b.String() // psql exited (the session ended)
		}
	}
}

func (s *psqlSession) close() {
	s.in.Close()
	s.cmd.Process.Signal(syscall.SIGTERM)
}
