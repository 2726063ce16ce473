package audit

import (
	"testing"
	"time"
)

// Appended and deferred records are acknowledged in the journal without a write; one
// write carries them all within the sync window, in order, and the chain verifies.
func TestAppendLater(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.SyncWindow = 20 * time.Millisecond })
	writes := l.Stats().Writes
	if err := l.AppendLater(&SessionStart{Session: "s1"}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, stmt("s1", 1, "SELECT 1"))
	if err := l.AppendLater(&Outcome{Session: "s1", Seq: 1, Tag: "SELECT 1", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Writes; got != writes {
		t.Errorf("records were written at once (%d writes, was %d), not kept in the journal", got, writes)
	}
	deadline := time.Now().Add(2 * time.Second)
	for l.Stats().Writes == writes {
		if time.Now().After(deadline) {
			t.Fatal("buffered records were never written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := l.Stats().Writes; got != writes+1 {
		t.Errorf("three records took %d writes, want 1", got-writes)
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
