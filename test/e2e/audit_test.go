package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/cgroup"
)

// auditStatements reads every statement record of the world's audit log.
func (w *world) auditStatements() []*audit.Statement {
	w.t.Helper()
	var out []*audit.Statement
	for _, r := range w.auditRecords() {
		if r.Statement != nil {
			out = append(out, r.Statement)
		}
	}
	return out
}

// auditSessionStarts reads every session_start record of the world's audit log.
func (w *world) auditSessionStarts() []*audit.SessionStart {
	w.t.Helper()
	var out []*audit.SessionStart
	for _, r := range w.auditRecords() {
		if r.SessionStart != nil {
			out = append(out, r.SessionStart)
		}
	}
	return out
}

// auditOutcomesByText pairs each outcome record with its statement's text (the last, if a
// text ran more than once).
func (w *world) auditOutcomesByText() map[string]*audit.Outcome {
	w.t.Helper()
	type key struct {
		session string
		seq     uint64
	}
	texts := map[key]string{}
	out := map[string]*audit.Outcome{}
	for _, r := range w.auditRecords() {
		if st := r.Statement; st != nil {
			texts[key{st.Session, st.Seq}] = st.Text
		}
		if o := r.Outcome; o != nil {
			out[texts[key{o.Session, o.Seq}]] = o
		}
	}
	return out
}

// auditRecords reads the world's audit log, all segments in order.
func (w *world) auditRecords() []*audit.Record {
	w.t.Helper()
	files, err := filepath.Glob(filepath.Join(w.dir, "audit", "*"))
	if err != nil {
		w.t.Fatal(err)
	}
	sort.Strings(files)
	var out []*audit.Record
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			w.t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var r audit.Record
			if json.Unmarshal(sc.Bytes(), &r) == nil {
				out = append(out, &r)
			}
		}
		fh.Close()
	}
	return out
}

// dbStatements are the statements the database itself logged for the agent's role: first
// lines of "statement:" (simple) and "execute <name>:" (extended) entries.
func (w *world) dbStatements() []string {
	w.t.Helper()
	log, err := w.db.Log()
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "user=sluice_app LOG:  ") {
			continue
		}
		_, rest, _ := strings.Cut(line, "LOG:  ")
		if text, ok := strings.CutPrefix(rest, "statement: "); ok {
			out = append(out, text)
		} else if strings.HasPrefix(rest, "execute ") {
			if _, text, ok := strings.Cut(rest, ": "); ok {
				out = append(out, text)
			}
		}
	}
	return out
}

// checkEveryLoggedStatementAudited: each statement the database logged has its own audit
// record (counted as a multiset, by first line, since the server log folds lines).
func (w *world) checkEveryLoggedStatementAudited() {
	w.t.Helper()
	records := map[string]int{}
	for _, s := range w.auditStatements() {
		if s.Decision == audit.DecisionAllow {
			first, _, _ := strings.Cut(s.Text, "\n")
			records[first]++
		}
	}
	logged := w.dbStatements()
	if len(logged) == 0 {
		w.t.Fatal("the database logged no statement of the agent's role: log_statement is not working")
	}
	missing, standIns := 0, 0
	for _, text := range logged {
		// A denied statement never reaches the database; what does is the proxy's
		// stand-in that makes the server fail in its place (see proxy/denials.go).
		if strings.HasPrefix(text, `FETCH "sluice_deny_`) {
			standIns++
			continue
		}
		if records[text] == 0 {
			if missing < 5 {
				w.t.Errorf("the database ran a statement with no audit record: %q", text)
			}
			missing++
			continue
		}
		records[text]--
	}
	w.t.Logf("%d statements logged by the database (%d denial stand-ins), %d without an audit record", len(logged), standIns, missing)
	denied := 0
	for _, s := range w.auditStatements() {
		if s.Decision == audit.DecisionDeny {
			denied++
		}
	}
	if standIns > denied {
		w.t.Errorf("%d denial stand-ins reached the database for %d denied statements", standIns, denied)
	}
}

// Issue 8, acceptance 1: under a pgbench load, every statement the database logged has an
// audit statement record, and every denied statement has one too.
func TestAuditCompleteUnderLoad(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	if out, err := w.pgbench(cg, "-i", "-s", "1"); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	for _, mode := range []string{"simple", "prepared"} {
		if out, err := w.pgbench(cg, "-c", "4", "-T", "2", "-M", mode, "-n"); err != nil {
			t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
		}
	}
	w.psql(cg, "drop table pgbench_history cascade; delete from pgbench_tellers")
	w.stopAgent(syscall.SIGTERM)

	w.checkEveryLoggedStatementAudited()
	var denied []string
	// pgbench's statements, each run thousands of times: every record carries the
	// pgaudit class, the command and the objects, however often the statement repeats.
	want := map[string]string{
		"UPDATE pgbench_accounts": "WRITE UPDATE [relation:pgbench_accounts]",
		"SELECT abalance FROM":    "READ SELECT [relation:pgbench_accounts]",
		"INSERT INTO pgbench_his": "WRITE INSERT [relation:pgbench_history]",
	}
	seen := map[string]int{}
	for _, s := range w.auditStatements() {
		if s.Decision == audit.DecisionDeny {
			denied = append(denied, s.Rule)
		}
		for prefix, shape := range want {
			if !strings.HasPrefix(s.Text, prefix) {
				continue
			}
			seen[prefix]++
			var objects []string
			for _, o := range s.Objects {
				objects = append(objects, o.Type+":"+o.Name)
			}
			if got := fmt.Sprintf("%s %s %v", s.Class, s.Command, objects); got != shape {
				t.Fatalf("record of %q says %s, want %s", s.Text, got, shape)
			}
		}
	}
	for prefix := range want {
		if seen[prefix] < 100 {
			t.Errorf("%d records of %q, want pgbench's thousands", seen[prefix], prefix)
		}
	}
	if len(denied) != 1 {
		t.Errorf("denied statement records: %v, want the one psql sent", denied)
	}
	w.verifyAudit("--closed")
}

// Issue 8, acceptance 2: SIGKILL of the agent under load loses no statement record for any
// statement that reached the database.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	if out, err := w.pgbench(cg, "-i", "-s", "1"); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	bench := w.pgbenchCmd("-c", "4", "-T", "20", "-M", "prepared", "-n")
	if err := cgroup.StartIn(cg, bench); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	w.agent.cmd.Process.Signal(syscall.SIGKILL)
	<-w.agent.done
	w.agent = nil
	bench.Wait()

	// A restarted writer appends what the killed one had acknowledged in its journal but
	// not yet written, repairs the tail, and the chain verifies; the log says the
	// previous writer crashed.
	w.startAgent()
	w.stopAgent(syscall.SIGTERM)
	w.checkEveryLoggedStatementAudited()
	w.verifyAudit("--closed")
	var opens []*audit.LogOpen
	for _, r := range w.auditRecords() {
		if r.LogOpen != nil {
			opens = append(opens, r.LogOpen)
		}
	}
	if len(opens) != 2 || opens[1].Previous != audit.PreviousCrashed {
		t.Errorf("log_open records = %+v, want the second to say the first writer crashed", opens)
	} else {
		t.Logf("the restarted agent appended %d records from the journal", opens[1].Recovered)
	}
}

// Issue 8, acceptance 4: a full disk makes statements fail with 58030 and the session stays
// usable; freeing space resumes auditing with the chain intact.
func TestAuditFullDiskRefusesStatements(t *testing.T) {
	w := newWorld(t)
	dir := filepath.Join(w.dir, "audit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	w.startAgent()
	cg := w.enforced("job-1")
	s := w.startPsql(cg)
	if got := strings.TrimSpace(s.query("select 1")); got != "1" {
		t.Fatalf("before the disk filled: %q", got)
	}

	filler := filepath.Join(dir, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=64k").Run() // stops at ENOSPC
	// Statements padded past a page, so their records cannot fit in the room tmpfs
	// still has in the segment's last page. The first ones may still run: their records
	// are safe in the journal (preallocated), and the full disk shows at the next write
	// of the journal's batch, within the sync window. From then on statements are
	// refused.
	ran, refused := map[string]bool{}, map[string]bool{}
	for i := 0; len(refused) < 2; i++ {
		if i == 50 {
			t.Fatalf("50 statements ran on a full audit disk (%d refused)", len(refused))
		}
		padded := fmt.Sprintf("select %d /* %s */", 1000+i, strings.Repeat("x", 5000))
		got := s.query(padded)
		switch {
		case strings.Contains(got, "ERROR:  sluice: the statement was not run because the audit log cannot be written"):
			refused[padded] = true
		case strings.TrimSpace(got) == strconv.Itoa(1000+i):
			if len(refused) > 0 {
				t.Fatalf("a statement ran after one was refused for the full disk: %q", padded[:10])
			}
			ran[padded] = true
		default:
			t.Fatalf("statement with the audit disk full: %q, want its result or SQLSTATE 58030", got)
		}
		time.Sleep(2 * time.Millisecond)
	}

	t.Logf("%d statements ran on the full disk (their records in the journal) before it showed", len(ran))
	// What an operator alerts on.
	if n := w.metric(`sluice_audit_records_total{result="failed"}`); n < float64(len(refused)) {
		t.Errorf("failed audit records counted: %v, want >= %d", n, len(refused))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(s.query("select 4")); got != "4" {
		t.Errorf("after space was freed: %q, want the same session to work again", got)
	}
	s.close()
	w.stopAgent(syscall.SIGTERM)
	w.verifyAudit("--closed")
	for _, st := range w.auditStatements() {
		text := strings.TrimSuffix(st.Text, ";") // psql sends the terminator
		if refused[text] {
			t.Errorf("a refused statement has a record: %.12q", text)
		}
		delete(ran, text)
	}
	if len(ran) > 0 {
		t.Errorf("%d statements ran on the full disk without a record after space was freed", len(ran))
	}
}

// Outcome records are written once the client has its answer, off its round trip. That
// must not lose one: a pipeline of statements longer than the guard buffers, answered in
// one stream, gets every outcome recorded after its statement and before the session's
// end.
func TestAuditOutcomesOfAPipeline(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	const n = 300
	script := []string{`\startpipeline`}
	for i := range n {
		script = append(script, fmt.Sprintf("SELECT %d AS pipelined;", i))
	}
	script = append(script, `\endpipeline`)
	path := filepath.Join(w.dir, "pipeline.sql")
	if err := os.WriteFile(path, []byte(strings.Join(script, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := w.pgbench(cg, "-n", "-t", "1", "-M", "extended", "-f", path); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	w.stopAgent(syscall.SIGTERM)

	type key struct {
		session string
		seq     uint64
	}
	stmts := map[key]string{}
	outcomes := map[string]int{}
	var session string
	for _, r := range w.auditRecords() {
		switch {
		case r.Statement != nil && strings.HasSuffix(r.Statement.Text, "AS pipelined;"):
			stmts[key{r.Statement.Session, r.Statement.Seq}] = r.Statement.Text
			session = r.Statement.Session
		case r.Outcome != nil:
			text, ok := stmts[key{r.Outcome.Session, r.Outcome.Seq}]
			if !ok {
				continue
			}
			if r.Outcome.Tag != "SELECT 1" || r.Outcome.SQLState != "" {
				t.Errorf("outcome of %q: %+v", text, r.Outcome)
			}
			outcomes[text]++
		case r.SessionEnd != nil && r.SessionEnd.Session == session:
			if len(outcomes) != n {
				t.Errorf("session_end after %d outcomes of the %d statements", len(outcomes), n)
			}
		}
	}
	if len(stmts) != n || len(outcomes) != n {
		t.Fatalf("%d statement and %d outcome records, want %d of each", len(stmts), len(outcomes), n)
	}
	for text, c := range outcomes {
		if c != 1 {
			t.Errorf("%q has %d outcome records", text, c)
		}
	}
	w.verifyAudit("--closed")
}

// verifyAudit runs `sluice audit verify` on the world's log.
func (w *world) verifyAudit(flags ...string) {
	w.t.Helper()
	args := append([]string{"audit", "verify", filepath.Join(w.dir, "audit"), "--pubkey", filepath.Join(w.dir, "audit.pub")}, flags...)
	out, err := exec.Command(sluiceBin, args...).CombinedOutput()
	if err != nil {
		w.t.Errorf("sluice audit verify: %v\n%s", err, out)
	}
}

// The outcome record sizes each result: the bytes the client received for it, so an
// auditor can tell a one-row answer from a bulk export.
func TestAuditOutcomeSizesResults(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	cg := w.enforced("job-1")
	for _, sql := range []string{"SELECT repeat('x', 100000) AS big", "SELECT 1 AS small"} {
		if out, err := w.psql(cg, sql); err != nil {
			t.Fatalf("%s: %v\n%s", sql, err, out)
		}
	}
	w.stopAgent(syscall.SIGTERM)

	sizes := map[string]int64{}
	for text, o := range w.auditOutcomesByText() {
		sizes[text] = o.Bytes
	}
	// RowDescription, one DataRow, CommandComplete: the value plus some tens of bytes.
	if b := sizes["SELECT repeat('x', 100000) AS big"]; b < 100000 || b > 100200 {
		t.Errorf("big result: %d bytes recorded, want 100,000 and a little framing", b)
	}
	if b := sizes["SELECT 1 AS small"]; b <= 0 || b > 200 {
		t.Errorf("small result: %d bytes recorded", b)
	}
}
