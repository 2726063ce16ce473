package audit

import (
	"testing"
	"time"
)

// A deferred record goes out with the next Append's write, or on its own within the sync
// window when no Append follows; the chain stays in order and verifies.
func TestAppendLater(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.SyncWindow = 20 * time.Millisecond })
	writes := l.Stats().Writes
	if err := l.AppendLater(&SessionStart{Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Writes; got != writes {
		t.Errorf("AppendLater wrote at once (%d writes, was %d)", got, writes)
	}
	mustAppend(t, l, stmt("s1", 1, "SELECT 1"))
	if got := l.Stats().Writes; got != writes+1 {
		t.Errorf("the statement and the deferred start took %d writes, want 1", got-writes)
	}
	if err := l.AppendLater(&Outcome{Session: "s1", Seq: 1, Tag: "SELECT 1", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for l.Stats().Writes != writes+2 {
		if time.Now().After(deadline) {
			t.Fatal("a deferred record with no Append after it was never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	recs := readRecords(t, dir) // read before Close: written without a closing checkpoint
	var types []Type
	for _, r := range recs {
		types = append(types, r.Type)
	}
	want := []Type{TypeSegment, TypeLogOpen, TypeSessionStart, TypeStatement, TypeOutcome}
	if !equal(types, want) {
		t.Fatalf("records = %v, want %v", types, want)
	}
	mustClose(t, l)
	mustVerify(t, key, dir)
}
