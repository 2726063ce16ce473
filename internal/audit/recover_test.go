package audit

import (
	"crypto/ed25519"
	"os"
	"strings"
	"testing"
)

// closedLog writes a closed log of a few segments.
func closedLog(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.MaxSegmentBytes = 2048 })
	for i := range 40 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	mustClose(t, l)
	return dir, key
}

// reopenAndVerify opens the log, appends one record, closes and verifies it, and returns
// the log_open record the reopen wrote.
func reopenAndVerify(t *testing.T, dir string, key ed25519.PrivateKey) *LogOpen {
	t.Helper()
	l := openLog(t, dir, key, func(o *Options) { o.MaxSegmentBytes = 2048 })
	mustAppend(t, l, stmt("s", 99, "SELECT 'after'"))
	mustClose(t, l)
	mustVerify(t, key, dir)
	var open *LogOpen
	for _, r := range readRecords(t, dir) {
		if r.LogOpen != nil {
			open = r.LogOpen
		}
	}
	return open
}

func TestReopenCutsTornLine(t *testing.T) {
	dir, key := closedLog(t)
	path, _ := lastSegment(t, dir)
	torn := `{"seq":12345,"prev":"00` // a write that died midway
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(torn)
	f.Close()
	if rep := verify(t, key, VerifyOptions{}, dir); rep.Problem == nil || rep.Problem.Kind != Truncated {
		t.Fatalf("torn line not reported: %+v", rep.Problem)
	}
	open := reopenAndVerify(t, dir, key)
	if open.Previous != PreviousClosed || open.DroppedBytes != int64(len(torn)) {
		t.Errorf("log_open = %+v, want previous closed and %d dropped bytes", open, len(torn))
	}
}

func TestReopenRemovesEmptySegment(t *testing.T) {
	dir, key := closedLog(t)
	segs, _ := listSegments(dir)
	next := segmentPath(dir, segs[len(segs)-1].index+1)
	if err := os.WriteFile(next, []byte(`{"seq":`), 0o640); err != nil { // died writing the header
		t.Fatal(err)
	}
	reopenAndVerify(t, dir, key)
}

func TestReopenAfterRotationCrash(t *testing.T) {
	dir, key := closedLog(t)
	// Without its last segment the log ends with a rotation checkpoint, as if the writer
	// had died before starting the next segment.
	last, _ := lastSegment(t, dir)
	if err := os.Remove(last); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, key, VerifyOptions{}, dir); rep.Problem == nil || rep.Problem.Kind != Truncated {
		t.Fatalf("missing last segment not reported: %+v", rep.Problem)
	}
	if open := reopenAndVerify(t, dir, key); open.Previous != PreviousCrashed {
		t.Errorf("log_open.previous = %q, want crashed", open.Previous)
	}
}

func TestReopenRefusesDamage(t *testing.T) {
	for name, damage := range map[string]func(lines [][]byte) [][]byte{
		"damaged last record": func(lines [][]byte) [][]byte {
			lines[len(lines)-1] = []byte(`{"seq":"not a number"}`)
			return lines
		},
		"segment without its header": func(lines [][]byte) [][]byte { return lines[1:] },
	} {
		t.Run(name, func(t *testing.T) {
			dir, key := closedLog(t)
			path, _ := lastSegment(t, dir)
			writeLines(t, path, damage(readLines(t, path)))
			l, err := Open(Options{Dir: dir, Key: key})
			if err == nil {
				l.Close()
				t.Fatal("Open continued a damaged log")
			}
			if !strings.Contains(err.Error(), "sluice audit verify") {
				t.Errorf("error does not say what to do: %v", err)
			}
		})
	}
}
