package audit

import (
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func TestAppendRoundTrip(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, nil)
	start := &SessionStart{
		Session:  "s1",
		Mode:     "enforce",
		Identity: &Identity{Issuer: "https://issuer.test", Subject: "repo:acme/app:ref:refs/heads/main", Groups: []string{"ci"}},
		Cgroup:   Cgroup{Path: "/sys/fs/cgroup/ci/job-1", ID: 4242},
		Workload: Workload{Container: "abc123", Pod: "pod-uid-1"},
		Process:  Process{PID: 77, UID: 1000, Name: "psql", Exe: "/usr/bin/psql"},
		Client:   netip.MustParseAddrPort("127.0.0.1:40000"), Destination: netip.MustParseAddrPort("10.0.0.5:5432"),
		Target: "main", User: "app", Database: "appdb", ApplicationName: "psql", TLS: true,
	}
	st := &Statement{
		Session: "s1", Seq: 1, Protocol: ProtocolExtended,
		Text:        "SELECT * FROM users WHERE id = $1 AND note <> 'a&b'\n-- two lines",
		Fingerprint: "fp1", Class: ClassRead, Command: "SELECT",
		Objects:    []Object{{Type: "table", Name: "public.users"}},
		Parameters: []Parameter{{Value: "42"}, {Redacted: true}, {Null: true}},
		Decision:   DecisionAllow, Rule: "read-ok",
		Approval: &Approval{ID: "ap-1", Approver: "alice"},
	}
	out := &Outcome{Session: "s1", Seq: 1, Duration: Nanos(1500 * time.Microsecond), Tag: "SELECT 1", Rows: 1, Bytes: 99, MaskedCells: 2}
	end := &SessionEnd{Session: "s1", Duration: Nanos(time.Second), Statements: 1}
	act := &AgentAction{Actor: "uid:0", Action: "set_mode", Details: map[string]string{"cgroup": "/ci", "mode": "audit"}}
	for _, ev := range []Event{start, st, out, end, act} {
		mustAppend(t, l, ev)
	}
	mustClose(t, l)

	recs := readRecords(t, dir)
	var types []Type
	for i, r := range recs {
		types = append(types, r.Type)
		if r.Seq != uint64(i+1) {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
	}
	want := []Type{TypeSegment, TypeLogOpen, TypeSessionStart, TypeStatement, TypeOutcome, TypeSessionEnd, TypeAgentAction, TypeCheckpoint}
	if !equal(types, want) {
		t.Fatalf("types = %v, want %v", types, want)
	}
	if recs[1].LogOpen.Previous != PreviousNew {
		t.Errorf("log_open.previous = %q, want new", recs[1].LogOpen.Previous)
	}
	got := recs[3].Statement
	if got.Text != st.Text || got.Parameters[1] != (Parameter{Redacted: true}) || got.Approval.Approver != "alice" || got.Objects[0] != st.Objects[0] {
		t.Errorf("statement did not round-trip: %+v", got)
	}
	if recs[2].SessionStart.Destination != start.Destination || recs[2].SessionStart.Identity.Subject != start.Identity.Subject {
		t.Errorf("session start did not round-trip: %+v", recs[2].SessionStart)
	}
	if recs[4].Outcome.Duration != out.Duration || recs[6].AgentAction.Details["mode"] != "audit" {
		t.Errorf("outcome/action did not round-trip: %+v %+v", recs[4].Outcome, recs[6].AgentAction)
	}
	if cp := recs[7].Checkpoint; cp.Reason != ReasonClose || cp.LastSeq != 7 {
		t.Errorf("last record = %+v, want the closing checkpoint over seq 7", cp)
	}
	// Statement text stays readable in the file: no HTML escaping, one line per record.
	data, err := os.ReadFile(segmentPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `note <> 'a&b'\n-- two lines`) {
		t.Errorf("statement text is not stored verbatim-escaped:\n%s", data)
	}
	rep := mustVerify(t, key, dir)
	if !rep.Closed || rep.Records != 8 || rep.Unsigned != 0 || rep.Checkpoints != 1 {
		t.Errorf("report = %+v", rep)
	}
}

func TestReopenContinuesChain(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	for round := range 3 {
		l := openLog(t, dir, key, nil)
		mustAppend(t, l, stmt("s", uint64(round), text(round)))
		mustClose(t, l)
	}
	recs := readRecords(t, dir)
	var previous []string
	for _, r := range recs {
		if r.LogOpen != nil {
			previous = append(previous, r.LogOpen.Previous)
		}
	}
	if !equal(previous, []string{PreviousNew, PreviousClosed, PreviousClosed}) {
		t.Errorf("log_open.previous = %v", previous)
	}
	rep := mustVerify(t, key, dir)
	if rep.Checkpoints != 3 || !rep.Closed {
		t.Errorf("report = %+v", rep)
	}
}

func TestAppendRejects(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, nil)
	bad := []Event{
		nil,
		&Statement{Text: "SELECT 1", Decision: DecisionAllow},         // no session
		&Statement{Session: "s", Text: "SELECT 1", Decision: "maybe"}, // unknown decision
		&Statement{Session: "s", Text: "SELECT 1", Decision: DecisionAllow, // a redacted value
			Parameters: []Parameter{{Value: "4111 1111 1111 1111", Redacted: true}}},
		&AgentAction{Action: "set_mode"}, // no actor
		(*Outcome)(nil),
	}
	for _, ev := range bad {
		err := l.Append(ev)
		if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnavailable) {
			t.Errorf("Append(%#v) = %v, want ErrInvalid", ev, err)
		}
	}
	if st := l.Stats(); st.Records != 0 || st.Failed != 0 {
		t.Errorf("stats after rejected appends = %+v", st)
	}
	mustClose(t, l)
	if err := l.Append(stmt("s", 1, "SELECT 1")); !errors.Is(err, ErrClosed) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("Append after Close = %v, want ErrClosed wrapping ErrUnavailable", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	for _, r := range readRecords(t, dir) {
		if r.Statement != nil {
			t.Errorf("a rejected statement was written: %+v", r.Statement)
		}
	}
}

func TestOpenIsExclusive(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, nil)
	if l2, err := Open(Options{Dir: dir, Key: key}); err == nil || !strings.Contains(err.Error(), "in use") {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("second Open = %v, want an in-use error", err)
	}
	mustClose(t, l)
	l = openLog(t, dir, key, nil) // released by Close
	mustClose(t, l)
}

func TestOpenOptionErrors(t *testing.T) {
	key := testKey(t)
	for _, o := range []Options{
		{Key: key},
		{Dir: t.TempDir()},
		{Dir: t.TempDir(), Key: key, Sync: "sometimes"},
	} {
		if l, err := Open(o); err == nil {
			l.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
