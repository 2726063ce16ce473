package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/agent"
	"github.com/sluicehq/sluice/internal/approvals"
)

// Issue 6, acceptance 3: approve -> the statement runs once; deny -> error; timeout ->
// error; a second identical statement needs a new approval; a denial is sticky in its
// session; the webhook receives the request.
func TestApprovals(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.db.Exec(ctx, "\\c app\nCREATE TABLE guarded (i int); INSERT INTO guarded SELECT generate_series(1, 10); ALTER TABLE guarded OWNER TO sluice_app;"); err != nil {
		t.Fatal(err)
	}
	w.startAgent()
	cg := w.enforced("job-1")
	s := w.startPsql(cg)
	defer s.close()

	// Approve: it runs, once.
	res := s.queryAsync("delete from guarded where i = 1")
	req := w.waitHeld()
	if req.Subject != "job-1" || req.Rule != "hold-deletes" || !strings.Contains(req.Text, "delete from guarded") {
		t.Errorf("held request = %+v", req)
	}
	w.mustSluice("approvals", "approve", req.ID)
	got := <-res
	if !strings.Contains(got, "NOTICE:  sluice: statement held for approval by rule hold-deletes (request "+req.ID+")") {
		t.Errorf("held delete: %q, want the client told about request %s", got, req.ID)
	}
	if !strings.HasSuffix(strings.TrimSpace(got), "DELETE 1") {
		t.Errorf("approved delete: %q, want it to run", got)
	}
	w.expectCount(ctx, "9")

	// The same statement again needs a new approval; deny this one.
	res = s.queryAsync("delete from guarded where i = 2")
	again := w.waitHeld()
	if again.ID == req.ID {
		t.Error("a second identical statement reused the first approval")
	}
	w.mustSluice("approvals", "deny", again.ID, "--reason", "not during the freeze")
	if got := <-res; !strings.Contains(got, "ERROR:  sluice: held by rule hold-deletes and not approved: not during the freeze") {
		t.Errorf("denied delete: %q", got)
	}
	// Sticky: the same statement shape is refused at once, no new request.
	if got := s.query("delete from guarded where i = 3"); !strings.Contains(got, "refused earlier in this session: not during the freeze") {
		t.Errorf("retry after a denial: %q, want it refused without asking again", got)
	}
	if reqs := w.approvalsList(); len(reqs) != 0 {
		t.Errorf("pending requests after the sticky refusal: %+v", reqs)
	}
	w.expectCount(ctx, "9")

	// Another session: nobody decides, the timeout (3 s in this config) denies.
	s2 := w.startPsql(cg)
	defer s2.close()
	start := time.Now()
	if got := s2.query("delete from guarded where i = 4"); !strings.Contains(got, "not approved: no decision within 3s") {
		t.Errorf("undecided delete: %q, want a timeout denial", got)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("the timeout denial came after %v, before the 3s timeout", d)
	}
	w.expectCount(ctx, "9")

	// The client's cancel (psql's Ctrl-C) withdraws the request.
	s3 := w.startPsql(cg)
	defer s3.close()
	res = s3.queryAsync("delete from guarded where i = 5")
	w.waitHeld()
	s3.cmd.Process.Signal(syscall.SIGINT)
	if got := <-res; !strings.Contains(got, "not approved: withdrawn: the client cancelled the statement") {
		t.Errorf("cancelled held delete: %q, want the request withdrawn", got)
	}
	if reqs := w.approvalsList(); len(reqs) != 0 {
		t.Errorf("pending requests after the cancel: %+v", reqs)
	}
	w.expectCount(ctx, "9")

	hooks := w.webhook.received()
	if len(hooks) != 4 || !strings.Contains(hooks[0], `"text":"sluice: job-1`) || !strings.Contains(hooks[0], req.ID) {
		t.Errorf("webhook received %d posts: %v", len(hooks), hooks)
	}
}

func (w *world) expectCount(ctx context.Context, want string) {
	w.t.Helper()
	if n, err := w.db.Query(ctx, "\\c app\nselect count(*) from guarded"); err != nil || strings.TrimSpace(n) != want {
		w.t.Errorf("rows in guarded: %q %v, want %s", n, err, want)
	}
}

func (w *world) approvalsList() []approvals.Request {
	w.t.Helper()
	reqs, err := agent.NewClient(w.socket).Approvals(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return reqs
}

// waitHeld waits for exactly one held request and returns it.
func (w *world) waitHeld() approvals.Request {
	w.t.Helper()
	var reqs []approvals.Request
	waitFor(w.t, "a held statement", func() bool {
		reqs = w.approvalsList()
		return len(reqs) == 1
	})
	return reqs[0]
}

// queryAsync runs one statement in the background; the result arrives on the channel.
func (s *psqlSession) queryAsync(sql string) <-chan string {
	ch := make(chan string, 1)
	go func() { ch <- s.query(sql) }()
	return ch
}
