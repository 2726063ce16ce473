package audit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A write slower than slowWrite sends the next ones through the scheduler; every byte
// arrives either way.
func TestSegmentWriterFallsBackWhenSlow(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "seg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sw segmentWriter
	small := []byte("{\"seq\":1}\n")
	if err := sw.write(f, small); err != nil || !sw.slowUntil.IsZero() {
		t.Fatalf("small write: %v, slow until %v", err, sw.slowUntil)
	}
	big := bytes.Repeat([]byte("x"), 64<<20) // copying 64 MiB takes well over a millisecond
	if err := sw.write(f, big); err != nil {
		t.Fatal(err)
	}
	if !sw.slowUntil.After(time.Now()) {
		t.Fatal("a 64 MiB write did not count as slow")
	}
	if err := sw.write(f, small); err != nil {
		t.Fatal(err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != int64(2*len(small)+len(big)) {
		t.Fatalf("segment size %d (%v), want %d", st.Size(), err, 2*len(small)+len(big))
	}
}
