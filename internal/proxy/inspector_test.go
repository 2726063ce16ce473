package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// testInspector denies statements mentioning "forbidden", masks the text value "secret"
// in results, and records the session events.
type testInspector struct {
	interest Interest
	refuse   error // returned by OpenSession when set
	failRows bool  // ServerMessage fails on DataRow

	mu     sync.Mutex
	opened []SessionInfo
	closed []error
	seen   []byte // client message types shown
}

func (i *testInspector) OpenSession(_ context.Context, info *SessionInfo) (SessionInspector, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.opened = append(i.opened, *info)
	if i.refuse != nil {
		return nil, i.refuse
	}
	return (*testSession)(i), nil
}

type testSession testInspector

func (s *testSession) Interest() Interest { return s.interest }

func (s *testSession) ClientMessage(msg pgproto3.FrontendMessage) error {
	s.mu.Lock()
	s.seen = append(s.seen, frontendType(msg))
	s.mu.Unlock()
	var text string
	switch m := msg.(type) {
	case *pgproto3.Query:
		text = m.String
	case *pgproto3.Parse:
		text = m.Query
	}
	if strings.Contains(text, "endsession") {
		return Fatal(&Error{Code: CodeInvalidAuthorization, Message: "the grant expired"})
	}
	if strings.Contains(text, "forbidden") {
		return &Error{Code: CodeInsufficientPrivilege, Message: "denied by rule no-forbidden", Hint: "ask for approval"}
	}
	return nil
}

func (s *testSession) ServerMessage(msg pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	row, ok := msg.(*pgproto3.DataRow)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	fail := s.failRows
	s.mu.Unlock()
	if fail {
		return nil, errors.New("masking engine unavailable")
	}
	changed := false
	for i, v := range row.Values {
		if string(v) == "secret" {
			row.Values[i], changed = []byte("******"), true
		}
	}
	if !changed {
		return nil, nil
	}
	return row, nil
}

func (s *testSession) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, err)
}

func frontendType(m pgproto3.FrontendMessage) byte {
	b, _ := m.Encode(nil)
	return b[0]
}

func withInspector(i *testInspector) func(*Config) {
	return func(c *Config) { c.Inspector = i }
}

// allInterest asks for every client message type (the proxy must show only the
// inspectable ones) and for DataRow.
var allInterest = Interest{Client: Messages("QPBEDCSHXdcfF"), Server: Messages("D")}

// TestInspectorDenySimple denies a simple Query: the client gets the Inspector's error
// as ERROR 42501, the session goes on, and inside a transaction the denial aborts it like
// a server error.
func TestInspectorDenySimple(t *testing.T) {
	insp := &testInspector{interest: allInterest}
	p := startProxy(t, sharedPostgres(t), withInspector(insp))
	conn := p.connect(t)
	ctx := t.Context()
	mode := pgx.QueryExecModeSimpleProtocol

	_, err := conn.Exec(ctx, "select 'forbidden'", mode)
	expectDenied(t, err)
	var n int
	if err := conn.QueryRow(ctx, "select 5", mode).Scan(&n); err != nil || n != 5 {
		t.Fatalf("after a denial: %d, %v", n, err)
	}

	if _, err := conn.Exec(ctx, "create temp table d(i int)", mode); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "begin; insert into d values (1)", mode); err != nil {
		t.Fatal(err)
	}
	expectDenied(t, execErr(conn.Exec(ctx, "select 'forbidden'", mode)))
	_, err = conn.Exec(ctx, "insert into d values (2)", mode)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "25P02" {
		t.Fatalf("statement after a denial in a transaction: %v, want 25P02 (transaction aborted)", err)
	}
	if _, err := conn.Exec(ctx, "rollback", mode); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "select count(*) from d", mode).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows after rollback: %d, %v", n, err)
	}
	if string(insp.seen[:1]) != "Q" || strings.ContainsAny(string(insp.seen), "SHXdcfF") {
		t.Fatalf("inspector was shown message types %q", insp.seen)
	}
}

func execErr(_ pgconn.CommandTag, err error) error { return err }

func expectDenied(t *testing.T, err error) {
	t.Helper()
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != CodeInsufficientPrivilege || pgErr.Message != "denied by rule no-forbidden" ||
		pgErr.Hint != "ask for approval" || pgErr.Severity != "ERROR" {
		t.Fatalf("got %v, want the Inspector's denial as ERROR 42501", err)
	}
}

// TestInspectorDenyPipeline denies a Parse in the middle of a pipeline: earlier statements
// ran but are rolled back with the pipeline's implicit transaction, the rest of the
// segment (including an Execute of a statement prepared earlier) is skipped, and the
// ReadyForQuery of the Sync follows, exactly as for a server-side error.
// A Fatal refusal ends the session with a FATAL error instead of refusing one statement.
func TestInspectorFatalEndsSession(t *testing.T) {
	insp := &testInspector{interest: allInterest}
	p := startProxy(t, sharedPostgres(t), withInspector(insp))
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		conn := p.connect(t)
		_, err := conn.Exec(t.Context(), "select 'endsession'", mode)
		pgErr, ok := errors.AsType[*pgconn.PgError](err)
		if !ok || pgErr.Code != CodeInvalidAuthorization || pgErr.Severity != "FATAL" {
			t.Fatalf("%v: got %v, want FATAL 28000", mode, err)
		}
		if err := conn.Ping(t.Context()); err == nil {
			t.Fatalf("%v: the session survived a Fatal refusal", mode)
		}
	}
}

func TestInspectorDenyPipeline(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), withInspector(&testInspector{interest: allInterest}))
	if err := p.pg.Exec(t.Context(), "drop table if exists pipe; create table pipe(i int);"); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, p.addr.String())
	rc.startup(0, nil)
	rc.send(&pgproto3.Parse{Name: "prev", Query: "insert into pipe values (99)"}, &pgproto3.Sync{})
	rc.until('Z')

	rc.send(
		&pgproto3.Parse{Query: "insert into pipe values (1)"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Parse{Query: "select 'forbidden'"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Bind{PreparedStatement: "prev"}, &pgproto3.Execute{},
		&pgproto3.Sync{},
	)
	got := typesOf(rc.until('Z'))
	if got != "12CEZ" {
		t.Fatalf("pipeline answered %q, want ParseComplete BindComplete CommandComplete ErrorResponse ReadyForQuery", got)
	}

	// An error before the denied statement: the server's error is what the client sees, and
	// the denial leaves nothing behind for the next segment.
	rc.send(
		&pgproto3.Query{String: "select 1/0"},
		&pgproto3.Parse{Query: "select 1/0"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Parse{Query: "select 'forbidden'"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Sync{},
		&pgproto3.Query{String: "select count(*) from pipe"},
	)
	msgs := append(rc.until('Z'), rc.until('Z')...)
	msgs = append(msgs, rc.until('Z')...)
	// 1/0 is folded when the statement is planned, so the extended one fails at Bind.
	if got := typesOf(msgs); got != "EZ1EZTDCZ" {
		t.Fatalf("got %q", got)
	}
	for _, i := range []int{0, 3} {
		if e := msgs[i].(*pgproto3.ErrorResponse); e.Code != "22012" {
			t.Fatalf("message %d: %s %s, want the server's 22012", i, e.Code, e.Message)
		}
	}
	if count := string(msgs[6].(*pgproto3.DataRow).Values[0]); count != "0" {
		t.Fatalf("%s rows in pipe, want 0: the denied pipeline must have been rolled back", count)
	}
}

func typesOf(msgs []pgproto3.BackendMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteByte(typeOf(m))
	}
	return b.String()
}

// TestInspectorDenyPgx checks denials as pgx applications meet them: a prepared statement
// refused at Parse, and a batch; the connection stays usable after both.
func TestInspectorDenyPgx(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), withInspector(&testInspector{interest: allInterest}))
	conn := p.connect(t)
	ctx := t.Context()
	expectDenied(t, execErr(conn.Exec(ctx, "select $1::text || 'forbidden'", "x")))
	batch := &pgx.Batch{}
	batch.Queue("select 1")
	batch.Queue("select 'forbidden'")
	expectDenied(t, conn.SendBatch(ctx, batch).Close())
	var s string
	if err := conn.QueryRow(ctx, "select $1::text", "ok").Scan(&s); err != nil || s != "ok" {
		t.Fatalf("after denials: %q, %v", s, err)
	}
}

// TestInspectorRewritesResults has the Inspector mask a value in DataRows, in both
// protocols, and checks that other rows pass unchanged.
func TestInspectorRewritesResults(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), withInspector(&testInspector{interest: allInterest}))
	conn := p.connect(t)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		got := resultOf(t, conn, mode, "select v, length(v) from (values ('public'), ('secret')) t(v)")
		if len(got) != 2 || got[0][0] != "public" || got[1][0] != "******" || got[1][1] != int32(6) {
			t.Fatalf("mode %v: %v", mode, got)
		}
	}
}

// TestInspectorSessionEvents checks OpenSession's information, Close after Terminate, a
// refused session, and a failing result inspection ending the session with FATAL.
func TestInspectorSessionEvents(t *testing.T) {
	insp := &testInspector{interest: allInterest}
	p := startProxy(t, sharedPostgres(t), withInspector(insp))
	conn := connectTo(t, p.connString("postgres", "disable")+"&application_name=events")
	if err := conn.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Close", func() bool { insp.mu.Lock(); defer insp.mu.Unlock(); return len(insp.closed) == 1 })
	info := insp.opened[0]
	if info.User != "app" || info.Database != "postgres" || info.Target != "test" || info.Origin.CgroupID != testCgroup ||
		info.Parameters["application_name"] != "events" || info.ID == 0 || insp.closed[0] != nil {
		t.Fatalf("opened %+v, closed %v", info, insp.closed)
	}

	insp.mu.Lock()
	insp.refuse = &Error{Code: "28000", Message: "no workload identity for this cgroup"}
	insp.mu.Unlock()
	_, err := pgx.Connect(t.Context(), p.connString("postgres", "disable"))
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Message != "no workload identity for this cgroup" {
		t.Fatalf("refused session: %v", err)
	}

	insp.mu.Lock()
	insp.refuse, insp.failRows = nil, true
	insp.mu.Unlock()
	conn = p.connect(t)
	_, err = conn.Exec(t.Context(), "select 1", pgx.QueryExecModeSimpleProtocol)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Severity != "FATAL" || pgErr.Code != CodeInternalError {
		t.Fatalf("failing inspection: %v, want FATAL XX000", err)
	}
	if !conn.IsClosed() {
		t.Fatal("session survived a failed result inspection")
	}
}
