package e2e

import (
	"context"
	"strings"
	"testing"
)

// Issue 6, acceptance 2: denied statements never reach the database (its state and its own
// statement log prove it); the session keeps working afterwards, also inside a transaction
// and in a pipeline; with psql (simple protocol) and pgx (extended protocol, pipeline).
func TestDeniedStatementsNeverReachTheDatabase(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.db.Exec(ctx, "\\c app\nCREATE TABLE guarded (i int); ALTER TABLE guarded OWNER TO sluice_app;"); err != nil {
		t.Fatal(err)
	}
	w.startAgent()
	cg := w.enforced("job-1")

	out, _ := w.psql(cg, "select 1; drop table guarded; select 2")
	// psql -c runs the string as one Query: the denial fails it as a whole, as a server
	// error would, so neither select's result is printed.
	if !strings.Contains(out, "ERROR:  sluice: denied by rule default/destructive-ddl") {
		t.Errorf("multi-statement with a DROP: %q", out)
	}
	s := w.startPsql(cg)
	for _, step := range []struct{ sql, want string }{
		{"select 1", "1"},
		{"drop table guarded", "ERROR:  sluice: denied by rule default/destructive-ddl: dropping or truncating objects is not allowed"},
		{"select 2", "2"},
		{"begin", ""},
		{"insert into guarded values (1)", ""},
		{"drop table guarded", "ERROR:  sluice: denied by rule default/destructive-ddl"},
		{"insert into guarded values (2)", "ERROR:  current transaction is aborted"},
		{"rollback", ""},
		{"select count(*) from guarded", "0"},
	} {
		if got := strings.TrimSpace(s.query(step.sql)); !strings.HasPrefix(got, step.want) {
			t.Errorf("%s: got %q, want %q", step.sql, got, step.want)
		}
	}
	s.close()

	// The same scenario straight against PostgreSQL, with a statement the server itself
	// rejects at Parse (a syntax error), is the reference: a denial must leave the session,
	// the pipeline and the implicit transaction exactly as a server error does.
	want := strings.Join(w.pgxClient("", "extended", "drop tablex guarded"), "\n")
	want = strings.ReplaceAll(want, "err 42601", "err 42501")
	got := strings.Join(w.pgxClient(cg, "extended", "drop table guarded"), "\n")
	if got != want || !strings.Contains(got, "drop err 42501") {
		t.Errorf("pgx extended protocol and pipeline through sluice:\n%s\nwant, as PostgreSQL does for its own errors:\n%s", got, want)
	}

	if n, err := w.db.Query(ctx, "\\c app\nselect count(*) from guarded"); err != nil || strings.TrimSpace(n) != "0" {
		t.Errorf("table guarded: %q %v, want it to exist and be empty", n, err)
	}
	log, err := w.db.Log()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "user=sluice_app") && strings.Contains(strings.ToLower(line), "drop table guarded") {
			t.Errorf("a denied statement reached the database: %s", line)
		}
	}
}

// Issue 6: a warn rule lets the statement run and tells the client with a NoticeResponse.
func TestWarnRuleSendsNotice(t *testing.T) {
	w := newWorld(t)
	if err := w.db.Exec(context.Background(), "\\c app\nCREATE TABLE noted (i int); ALTER TABLE noted OWNER TO sluice_app;"); err != nil {
		t.Fatal(err)
	}
	w.startAgent()
	cg := w.enforced("job-1")
	out, err := w.psql(cg, "select count(*) from noted")
	if err != nil || !strings.Contains(out, "NOTICE:  sluice: warning from rule note-reads: reads of noted are reported") || !strings.HasSuffix(out, "0") {
		t.Errorf("warned statement: %q %v, want the notice and the result", out, err)
	}
}
