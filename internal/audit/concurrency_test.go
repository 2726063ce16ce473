package audit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestConcurrentAppends runs many appenders through rotations and checkpoints with
// SyncAlways: every record lands exactly once, each appender's records in its own order,
// the log verifies, and group commit shares fsyncs between appenders.
func TestConcurrentAppends(t *testing.T) {
	const appenders, each = 32, 200
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) {
		o.Sync = SyncAlways
		o.MaxSegmentBytes = 32 << 10
		o.CheckpointEvery = 64
	})
	var wg sync.WaitGroup
	errs := make(chan error, appenders)
	for g := range appenders {
		wg.Go(func() {
			for i := range each {
				if err := l.Append(stmt(fmt.Sprintf("g%d", g), uint64(i+1), fmt.Sprintf("SELECT %d, %d", g, i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := l.Stats()
	mustClose(t, l)

	rep := mustVerify(t, key, dir)
	if rep.Segments < 5 {
		t.Errorf("only %d segments: rotation was not exercised", rep.Segments)
	}
	next := map[string]uint64{}
	for _, r := range readRecords(t, dir) {
		if s := r.Statement; s != nil {
			if s.Seq != next[s.Session]+1 {
				t.Fatalf("session %s: statement %d follows %d", s.Session, s.Seq, next[s.Session])
			}
			next[s.Session] = s.Seq
		}
	}
	for g := range appenders {
		if n := next[fmt.Sprintf("g%d", g)]; n != each {
			t.Errorf("appender %d: %d records in the log, want %d", g, n, each)
		}
	}
	if st.Records != appenders*each || st.Failed != 0 {
		t.Errorf("stats = %+v", st)
	}
	// With 32 appenders blocked on fsync, each fsync must have covered several of them.
	if st.Syncs >= st.Records/2 {
		t.Errorf("%d fsyncs for %d records: appenders did not share fsyncs", st.Syncs, st.Records)
	}
	t.Logf("%d records, %d writes, %d fsyncs, %d segments", st.Records, st.Writes, st.Syncs, rep.Segments)
}

// waitFor polls cond for up to 5 s; background work (the batched fsync, the interval
// checkpoint) must happen, and this bounds how long the test waits for it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestSyncPolicies(t *testing.T) {
	key := testKey(t)
	t.Run("always syncs before acknowledging", func(t *testing.T) {
		l := openLog(t, t.TempDir(), key, func(o *Options) { o.Sync = SyncAlways })
		defer l.Close()
		for i := range 5 {
			before := l.Stats().Syncs
			mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
			if l.Stats().Syncs == before {
				t.Fatal("Append returned before an fsync")
			}
		}
	})
	t.Run("batched syncs within the window", func(t *testing.T) {
		l := openLog(t, t.TempDir(), key, func(o *Options) { o.Sync = SyncBatched; o.SyncWindow = 20 * time.Millisecond })
		defer l.Close()
		before := l.Stats().Syncs
		mustAppend(t, l, stmt("s", 1, text(1)))
		waitFor(t, "the batched fsync", func() bool { return l.Stats().Syncs > before })
	})
	t.Run("none never syncs appends", func(t *testing.T) {
		l := openLog(t, t.TempDir(), key, func(o *Options) { o.Sync = SyncNone; o.SyncWindow = time.Millisecond })
		defer l.Close()
		before := l.Stats().Syncs
		for i := range 20 {
			mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
		}
		time.Sleep(20 * time.Millisecond) // ample for a batched sync to have happened
		if got := l.Stats().Syncs; got != before {
			t.Errorf("%d fsyncs under SyncNone", got-before)
		}
	})
}

// TestIntervalCheckpoints: a quiet log signs its unsigned records after the interval,
// and records further apart than the interval always have a checkpoint between them.
func TestIntervalCheckpoints(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.CheckpointInterval = 30 * time.Millisecond })
	defer l.Close()
	mustAppend(t, l, stmt("s", 1, text(1)))
	waitFor(t, "the interval checkpoint", func() bool {
		rep := verify(t, key, VerifyOptions{}, dir)
		return rep.Problem == nil && rep.Unsigned == 0 && rep.Checkpoints > 0
	})
	for i := range 3 {
		mustAppend(t, l, stmt("s", uint64(i+2), text(i)))
		time.Sleep(40 * time.Millisecond)
	}
	recs := readRecords(t, dir)
	var last *Record
	for _, r := range recs {
		if r.Checkpoint != nil {
			last = nil
			continue
		}
		if last != nil && r.Time.Sub(last.Time) >= 30*time.Millisecond {
			t.Errorf("seq %d and %d are %v apart without a checkpoint", last.Seq, r.Seq, r.Time.Sub(last.Time))
		}
		if last == nil {
			last = r
		}
	}
	mustVerify(t, key, dir)
}
