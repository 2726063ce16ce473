package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// liveLogWithJournal returns a log whose segment holds 5 statements and whose journal
// holds 3 more, acknowledged but not written (the sync window never ends on its own).
// copyDir of its directory is what a SIGKILL would leave: the journal is a shared
// mapping, so its file shows what the writer copied into it.
func liveLogWithJournal(t *testing.T) (*Log, string) {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, dir, testKey(t), func(o *Options) { o.Sync = SyncBatched; o.SyncWindow = time.Hour })
	t.Cleanup(func() { l.Close() })
	for i := range 5 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	written(l)
	for i := 5; i < 8; i++ {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	return l, dir
}

// journalTexts returns the statement texts of the log in dir.
func journalTexts(t *testing.T, dir string) string {
	return strings.Join(statementTexts(readRecords(t, dir)), ",")
}

// A statement is acknowledged once it is in the journal: no write, yet a crash right then
// keeps it, and the reopened log appends it, continues the chain and says so.
func TestJournalKeepsAcknowledgedRecords(t *testing.T) {
	l, dir := liveLogWithJournal(t)
	if got := journalTexts(t, dir); got != "SELECT 0,SELECT 1,SELECT 2,SELECT 3,SELECT 4" {
		t.Fatalf("segment before the crash: %s", got)
	}
	crashed := copyDir(t, dir)
	key := l.w.opts.Key
	if rep := mustVerify(t, key, crashed); rep.Pending != 3 || !strings.Contains(rep.Summary(), "3 more acknowledged records wait in the journal") {
		t.Errorf("verify of the crashed log reports %d pending records, want 3:\n%s", rep.Pending, rep.Summary())
	}
	open := reopenAndVerify(t, crashed, key)
	if open.Previous != PreviousCrashed || open.Recovered != 3 {
		t.Errorf("log_open = %+v, want previous crashed and 3 records recovered", open)
	}
	if got := journalTexts(t, crashed); got != "SELECT 0,SELECT 1,SELECT 2,SELECT 3,SELECT 4,SELECT 5,SELECT 6,SELECT 7,SELECT 'after'" {
		t.Errorf("reopened log: %s", got)
	}
	if rep := mustVerify(t, key, crashed); rep.Pending != 0 {
		t.Errorf("verify after the reopen reports %d pending records", rep.Pending)
	}
	// Reopening again finds an empty journal.
	if open := reopenAndVerify(t, crashed, key); open.Recovered != 0 {
		t.Errorf("second reopen recovered %d records again", open.Recovered)
	}
}

// A copy into the journal cut short by a crash leaves zeros inside its line, wherever
// they are: that line and everything after it are never appended.
func TestJournalIgnoresTornCopy(t *testing.T) {
	for _, where := range []string{"start", "middle", "end"} {
		t.Run(where, func(t *testing.T) {
			l, dir := liveLogWithJournal(t)
			crashed := copyDir(t, dir)
			path := filepath.Join(crashed, journalName)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Tear the second of the three journal lines.
			first := bytes.IndexByte(data, '\n') + 1
			second := first + bytes.IndexByte(data[first:], '\n')
			at := map[string]int{"start": first, "middle": (first + second) / 2, "end": second - 1}[where]
			clear(data[at : at+8])
			if err := os.WriteFile(path, data, 0o640); err != nil {
				t.Fatal(err)
			}
			open := reopenAndVerify(t, crashed, l.w.opts.Key)
			if open.Recovered != 1 {
				t.Errorf("recovered %d records, want only the one before the torn line", open.Recovered)
			}
			if got := journalTexts(t, crashed); got != "SELECT 0,SELECT 1,SELECT 2,SELECT 3,SELECT 4,SELECT 5,SELECT 'after'" {
				t.Errorf("reopened log: %s", got)
			}
		})
	}
}

// Journal lines that do not continue the log (another log's journal, or lines already
// written) are left alone: nothing is appended that would break the chain.
func TestJournalFromAnotherLogIsIgnored(t *testing.T) {
	_, dir := liveLogWithJournal(t)
	other, otherDir := liveLogWithJournal(t)
	crashed := copyDir(t, dir)
	data, err := os.ReadFile(filepath.Join(otherDir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crashed, journalName), data, 0o640); err != nil {
		t.Fatal(err)
	}
	if open := reopenAndVerify(t, crashed, other.w.opts.Key); open.Recovered != 0 {
		t.Errorf("recovered %d records of another log", open.Recovered)
	}
}

// After a batch is written the journal is all zeros again, so no stale line can follow
// the next batch's lines.
func TestJournalResetLeavesZeros(t *testing.T) {
	l, dir := liveLogWithJournal(t)
	written(l)
	data, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != DefaultJournalBytes || bytes.ContainsFunc(data, func(r rune) bool { return r != 0 }) {
		t.Fatalf("journal after a write: %d bytes, not all zero", len(data))
	}
}

// A batch larger than the journal is written at once instead, and acknowledged only then.
func TestJournalFullWritesAtOnce(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testKey(t), func(o *Options) {
		o.Sync = SyncBatched
		o.SyncWindow = time.Hour
		o.JournalBytes = 4096
	})
	defer mustClose(t, l)
	writes := l.Stats().Writes
	for i := range 40 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	st := l.Stats()
	if st.Writes == writes || st.Writes > writes+40/8 {
		t.Errorf("%d writes for 40 records of ~250 bytes with a 4 KiB journal", st.Writes-writes)
	}
}

// With a journal, a full disk is found by the first write after it filled. Records
// acknowledged in the journal before that stay buffered (and in the journal) and reach
// the segment once there is room; appends after the failed write are refused. Nothing
// acknowledged is lost, nothing refused is logged, the chain verifies.
func TestFullDiskWithJournal(t *testing.T) {
	mnt := mountTmpfs(t, 4<<20)
	dir := filepath.Join(mnt, "log")
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) {
		o.Sync = SyncBatched
		o.SyncWindow = time.Hour
		o.JournalBytes = 256 << 10
	})
	acked, refused := map[string]bool{}, map[string]bool{}
	n := 0
	appendText := func() error {
		n++
		txt := fmt.Sprintf("SELECT %d, '%s'", n, strings.Repeat("y", 1000))
		if err := l.Append(stmt("s", uint64(n), txt)); err != nil {
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append on a full disk: %v, want ErrUnavailable and ENOSPC", err)
			}
			refused[txt] = true
			return err
		}
		acked[txt] = true
		return nil
	}
	for range 5 {
		if err := appendText(); err != nil {
			t.Fatal(err)
		}
	}
	written(l)
	filler := fill(t, mnt)
	for range 20 {
		if err := appendText(); err != nil {
			t.Fatalf("append into the journal on a full disk: %v", err)
		}
	}
	written(l) // fails: the 20 stay buffered
	checkWholeLines(t, dir)
	for range 3 {
		if appendText() == nil {
			t.Fatal("an append was acknowledged after a write to the full disk had failed")
		}
	}
	checkWholeLines(t, dir)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := appendText(); err != nil {
			t.Fatalf("append after freeing space: %v", err)
		}
	}
	mustClose(t, l)
	mustVerify(t, key, dir)
	for _, txt := range statementTexts(readRecords(t, dir)) {
		if refused[txt] {
			t.Errorf("a refused record is in the log: %.20s", txt)
		}
		delete(acked, txt)
	}
	if len(acked) > 0 {
		t.Errorf("%d acknowledged records are missing from the log", len(acked))
	}
}

// A writer with SyncAlways has no journal: it still appends what a batched writer's crash
// left in one, then removes the file.
func TestAlwaysRecoversThenRemovesTheJournal(t *testing.T) {
	l, dir := liveLogWithJournal(t)
	crashed := copyDir(t, dir)
	reopened := openLog(t, crashed, l.w.opts.Key, func(o *Options) { o.Sync = SyncAlways })
	mustClose(t, reopened)
	if got := journalTexts(t, crashed); got != "SELECT 0,SELECT 1,SELECT 2,SELECT 3,SELECT 4,SELECT 5,SELECT 6,SELECT 7" {
		t.Errorf("reopened log: %s", got)
	}
	if _, err := os.Stat(filepath.Join(crashed, journalName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the journal is still there: %v", err)
	}
}

// A journal file cut short under a live writer makes its mapping fault: that costs the
// journal, not the agent. Appends go on, written one by one, and nothing is lost.
func TestJournalCutShortUnderTheWriter(t *testing.T) {
	l, dir := liveLogWithJournal(t)
	if err := os.Truncate(filepath.Join(dir, journalName), 0); err != nil {
		t.Fatal(err)
	}
	writes := l.Stats().Writes
	for i := 8; i < 12; i++ {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	if got := l.Stats().Writes - writes; got != 4 {
		t.Errorf("4 appends after the journal faulted took %d writes, want one each", got)
	}
	mustClose(t, l)
	mustVerify(t, l.w.opts.Key, dir)
	if got := journalTexts(t, dir); got != "SELECT 0,SELECT 1,SELECT 2,SELECT 3,SELECT 4,SELECT 5,SELECT 6,SELECT 7,SELECT 8,SELECT 9,SELECT 10,SELECT 11" {
		t.Errorf("log: %s", got)
	}
}
