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

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/testenv"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted in cleanup.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mounting tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting tmpfs: %v", err)
		}
	})
	return dir
}

// fill writes a file until the filesystem is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return p
		}
	}
}

// lastSegment returns the path and size of the log's highest segment.
func lastSegment(t *testing.T, dir string) (string, int64) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil || len(segs) == 0 {
		t.Fatalf("segments: %v %v", segs, err)
	}
	st, err := os.Stat(segs[len(segs)-1].path)
	if err != nil {
		t.Fatal(err)
	}
	return segs[len(segs)-1].path, st.Size()
}

// checkWholeLines fails if any segment does not end with a complete, valid record.
func checkWholeLines(t *testing.T, dir string) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end with a complete line (%d bytes)", s.path, len(data))
		}
		lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
		if err := decodeRecord(lines[len(lines)-1], new(Record)); err != nil {
			t.Fatalf("%s: last line: %v", s.path, err)
		}
	}
}

// TestFullDisk fills the filesystem under the log: appends fail with the typed error and
// leave no partial line, and once space is freed appending resumes with the chain intact.
func TestFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, 1<<20)
	dir := filepath.Join(mnt, "log")
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) {
		o.Sync = SyncAlways
		o.MaxSegmentBytes = 16 << 10
		o.CheckpointEvery = 20
	})
	acked, refused := map[string]bool{}, map[string]bool{}
	n := 0
	appendText := func(size int) error {
		n++
		txt := fmt.Sprintf("SELECT %d, '%s'", n, strings.Repeat("y", size))
		err := l.Append(stmt("s", uint64(n), txt))
		if err == nil {
			acked[txt] = true
			return nil
		}
		refused[txt] = true
		var we *WriteError
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &we) {
			t.Fatalf("append on a full disk: %v, want a *WriteError wrapping ErrUnavailable and ENOSPC", err)
		}
		return err
	}

	// Phase 1, deterministic: the last page of the segment has room left, so the next
	// write fits partly and then fails: the writer must cut the partial line back.
	for {
		if err := appendText(100); err != nil {
			t.Fatal(err)
		}
		if _, size := lastSegment(t, dir); size%4096 > 200 && size%4096 < 3800 {
			break
		}
	}
	seg, before := lastSegment(t, dir)
	filler := fill(t, mnt)
	if err := appendText(6000); err == nil {
		t.Fatal("a 6 KB record fitted into a full filesystem")
	}
	if _, after := lastSegment(t, dir); after != before {
		t.Fatalf("%s is %d bytes after the failed append, want %d: the partial write was not undone", seg, after, before)
	}
	checkWholeLines(t, dir)
	for range 3 {
		if err := appendText(100 + n%3*1000); err == nil {
			// Small records may still fit in the page's remaining room: fine.
			continue
		}
	}
	checkWholeLines(t, dir)

	// Phase 2: space returns, appends (and rotations) resume.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 40 {
		if err := appendText(1000); err != nil {
			t.Fatalf("append after freeing space: %v", err)
		}
	}

	// Phase 3: full again with small segments, so failures also hit rotation (the
	// sealing checkpoint and the new segment's header).
	filler = fill(t, mnt)
	failures := 0
	for i := 0; failures < 10 && i < 1000; i++ {
		if appendText(800) != nil {
			failures++
			checkWholeLines(t, dir)
		}
	}
	if failures < 10 {
		t.Fatalf("only %d appends failed on a full filesystem", failures)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := appendText(800); err != nil {
			t.Fatalf("append after freeing space again: %v", err)
		}
	}
	if st := l.Stats(); st.Failed != uint64(len(refused)) {
		t.Errorf("Stats.Failed = %d, want %d", st.Failed, len(refused))
	}
	mustClose(t, l)

	rep := mustVerify(t, key, dir)
	if !rep.Closed || rep.Segments < 3 {
		t.Errorf("report = %+v", rep)
	}
	texts := statementTexts(readRecords(t, dir))
	for _, txt := range texts {
		if refused[txt] {
			t.Errorf("a refused record is in the log: %.40s", txt)
		}
		delete(acked, txt)
	}
	if len(acked) > 0 {
		t.Errorf("%d acknowledged records are missing from the log", len(acked))
	}
	t.Logf("%d records in %d segments, %d appends refused while full", len(texts), rep.Segments, len(refused))
}
