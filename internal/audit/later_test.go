package audit

import (
	"fmt"
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

// The count checkpoint is signed before a deferred record an eighth early, so that it
// rarely delays a statement's record, and never later than CheckpointEvery records.
func TestCountCheckpointPrefersDeferredRecords(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.CheckpointEvery = 16; o.CheckpointInterval = time.Hour })
	// log_open starts the run; statements bring it to 14, the early threshold (16 - 2).
	for i := range 13 {
		mustAppend(t, l, stmt("s1", uint64(i+1), text(i)))
	}
	mustAppend(t, l, stmt("s1", 14, text(14))) // 15 records, no deferred one: not yet due
	if err := l.AppendLater(&Outcome{Session: "s1", Seq: 14, Tag: "SELECT 1"}); err != nil {
		t.Fatal(err)
	}
	// Statements alone: the checkpoint comes before the 17th record, not later.
	for i := range 16 {
		mustAppend(t, l, stmt("s1", uint64(i+15), text(i+15)))
	}
	written(l)
	var got []string
	run := 0
	for _, r := range readRecords(t, dir)[1:] { // the segment header is not in a run
		if r.Type == TypeCheckpoint {
			got = append(got, fmt.Sprintf("%s after %d", r.Checkpoint.Reason, run))
			run = 0
			continue
		}
		run++
	}
	if want := []string{"count after 15", "count after 16"}; !equal(got, want) {
		t.Errorf("checkpoints: %v, want %v", got, want)
	}
	mustClose(t, l)
	mustVerify(t, key, dir)
}
