package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

func TestRenderEscapesClientText(t *testing.T) {
	rec := &Record{Seq: 7, Type: TypeStatement, Time: time.Unix(0, 0), Statement: &Statement{
		Session: "s1", Seq: 3, Decision: DecisionDeny, Class: ClassWrite, Command: "DELETE", Rule: "no-delete",
		Text:       "DELETE FROM t -- \x1b[2J\x1b]0;pwned\a\nWHERE \u202eevil\u202c",
		Parameters: []Parameter{{Value: "x\x1by"}, {Redacted: true}, {Null: true}},
	}}
	var b bytes.Buffer
	if err := Render(&b, rec); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "\n") != 1 || strings.ContainsAny(out[:len(out)-1], "\x1b\a\n\u202e\u202c") {
		t.Fatalf("control characters reached the output: %q", out)
	}
	for _, want := range []string{`\x1b[2J`, `\n`, `\u202e`, "DENY", "rule=no-delete", `$1='x\x1by'`, "$2=<redacted>", "$3=NULL"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q: %s", want, out)
		}
	}
}

// twoSessions writes a log with two interleaved sessions and returns it.
func twoSessions(t *testing.T, tweak func(*Options)) string {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, testKey(t), tweak)
	for _, s := range []string{"a", "b"} {
		mustAppend(t, l, &SessionStart{Session: s, User: "u", Database: "d"})
	}
	for i := range 3 {
		for _, s := range []string{"a", "b"} {
			mustAppend(t, l, stmt(s, uint64(i+1), fmt.Sprintf("SELECT '%s%d'", s, i)))
			mustAppend(t, l, &Outcome{Session: s, Seq: uint64(i + 1), Rows: 1})
		}
	}
	for _, s := range []string{"a", "b"} {
		mustAppend(t, l, &SessionEnd{Session: s, Statements: 3})
	}
	mustClose(t, l)
	return dir
}

func TestShow(t *testing.T) {
	dir := twoSessions(t, nil)
	var b bytes.Buffer
	if err := Show(&b, []string{dir}, "a", false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 8 { // start, 3 statements, 3 outcomes, end
		t.Fatalf("show printed %d lines:\n%s", len(lines), b.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "session a") || strings.Contains(l, "session b") {
			t.Errorf("line is not about session a: %s", l)
		}
	}

	// --json passes the lines through byte for byte.
	b.Reset()
	if err := Show(&b, []string{dir}, "a", true); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(segmentPath(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		if !bytes.Contains(file, []byte(l+"\n")) {
			t.Errorf("--json line is not a line of the log: %s", l)
		}
	}

	// A damaged line is flagged, the rest still shown, and the command fails.
	lines2 := readLines(t, segmentPath(dir, 1))
	lines2[3] = []byte("garbage")
	writeLines(t, segmentPath(dir, 1), lines2)
	b.Reset()
	err = Show(&b, []string{dir}, "a", false)
	if err == nil || !strings.Contains(b.String(), "!! ") || strings.Count(b.String(), "\n") < 8 {
		t.Errorf("damaged log: err=%v output:\n%s", err, b.String())
	}
}

func TestTailLastRecords(t *testing.T) {
	dir := twoSessions(t, func(o *Options) { o.MaxSegmentBytes = 1024 })
	recs := readRecords(t, dir)
	var b bytes.Buffer
	if err := Tail(context.Background(), &b, []string{dir}, TailOptions{Lines: 5, JSON: true}); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(got) != 5 {
		t.Fatalf("tail printed %d lines", len(got))
	}
	for i, l := range got {
		r := new(Record)
		if err := decodeRecord([]byte(l), r); err != nil || r.Seq != recs[len(recs)-5+i].Seq {
			t.Errorf("line %d: %v seq %d, want seq %d", i, err, r.Seq, recs[len(recs)-5+i].Seq)
		}
	}
}

func TestTailFollowsIntoNewSegments(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testKey(t), func(o *Options) { o.MaxSegmentBytes = 1024 })
	mustAppend(t, l, stmt("s", 1, "SELECT 'before'"))
	ctx, cancel := context.WithCancel(context.Background())
	var out testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Tail(ctx, &out, []string{dir}, TailOptions{Lines: 2, Follow: true, Poll: 5 * time.Millisecond})
	}()
	waitFor(t, "tail to print the last records", func() bool { return strings.Contains(out.String(), "'before'") })
	for i := range 30 {
		mustAppend(t, l, stmt("s", uint64(i+2), fmt.Sprintf("SELECT 'followed %d'", i)))
	}
	mustClose(t, l)
	if segs, _ := listSegments(dir); len(segs) < 3 {
		t.Fatalf("only %d segments: following was not tested across rotation", len(segs))
	}
	waitFor(t, "tail to print the closing checkpoint", func() bool { return strings.Contains(out.String(), "close checkpoint") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if want := fmt.Sprintf("'followed %d'", i); strings.Count(out.String(), want) != 1 {
			t.Errorf("followed output has %q %d times", want, strings.Count(out.String(), want))
		}
	}
}
