package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// journal is the write-ahead area of a batched or unsynced log: a file in the log
// directory, mapped into the writer's memory, that holds exactly the encoded lines not yet
// written to the segment. Copying a record into the mapping puts it in the page cache at
// once, where it survives a crash or SIGKILL of the agent just as a written record does,
// without the write(2) per statement that was ~6% of the agent's CPU under pgbench -S
// (~2.5 us of ~40 us per transaction). The lines then reach the segment with one write
// per SyncWindow, and a reopened log appends those a crash left in the journal
// (recoverJournal).
//
// Everything in the mapping past the pending lines is zero, so a copy cut short by a
// crash, whatever order it wrote its bytes in, leaves a NUL before its line ends and is
// discarded; stale lines of an earlier batch can never mix into a record. The file is
// filled with zeros when the log is opened rather than allocated lazily, so copying into
// the mapping never needs a disk block the kernel could then fail to find.
type journal struct {
	f    *os.File
	mem  []byte
	used int // bytes of mem holding pending lines
	// faulted is set once accessing mem faulted; the journal is not used again.
	faulted bool
}

// journalName is the journal's file name in the log directory. It does not end in
// segmentSuffix, so shippers and readers of segments never see it.
const journalName = "journal"

// DefaultJournalBytes is the default journal size: ~10 ms of records at 40,000 statements
// a second (two ~400-byte records each), twice the SyncWindow. A batch that outgrows it is
// written at once, which is correct, only slower.
const DefaultJournalBytes = 1 << 20

// createJournal (re)creates the journal of dir, size bytes of zeros, and maps it.
func createJournal(dir string, size int) (*journal, error) {
	path := filepath.Join(dir, journalName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(make([]byte, size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("filling %s: %w", path, err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mapping %s: %w", path, err)
	}
	return &journal{f: f, mem: mem}, nil
}

// mirror makes the journal hold pending, the writer's buffered lines, of which it already
// holds the first j.used bytes. It reports false, changing nothing, when they do not fit,
// and false for good once the mapping faulted (faulted).
func (j *journal) mirror(pending []byte) bool {
	if len(pending) > len(j.mem) || j.faulted {
		return false
	}
	return j.touch(func() {
		copy(j.mem[j.used:], pending[j.used:])
		j.used = len(pending)
	})
}

// reset empties the journal once its lines are in the segment.
func (j *journal) reset() {
	j.touch(func() {
		clear(j.mem[:j.used])
		j.used = 0
	})
}

// touch runs f, which accesses the mapping, and reports whether it completed. A mapping
// faults (SIGBUS) when its file was cut shorter behind the writer's back; that must cost
// the journal, not the agent: the writer then writes every record on its own, and the
// records it buffered are written by the next write as always.
func (j *journal) touch(f func()) (ok bool) {
	if j.faulted {
		return false
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			j.faulted = true
			ok = false
		}
	}()
	f()
	return true
}

// close unmaps and closes the journal; the file stays, empty, for the next writer.
func (j *journal) close() error {
	return errors.Join(unix.Munmap(j.mem), j.f.Close())
}

// readJournal returns the complete lines in dir's journal, up to the first NUL, or nil
// when there is none.
func readJournal(dir string) ([][]byte, error) {
	f, err := os.Open(filepath.Join(dir, journalName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	if end := bytes.IndexByte(data, 0); end >= 0 {
		data = data[:end]
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	if len(data) == 0 {
		return nil, nil
	}
	return bytes.Split(data[:len(data)-1], []byte{'\n'}), nil
}

// journalContinuation returns the journal lines that continue a chain ending with the
// record seq whose line hashes to hash: lines already in the segments are skipped, and the
// continuation stops at the first line that is not the next valid record (a torn copy, or
// a journal that does not belong to this log).
func journalContinuation(lines [][]byte, seq uint64, hash [sha256.Size]byte) (cont [][]byte, rest int) {
	for i, line := range lines {
		var rec Record
		if err := decodeRecord(line, &rec); err != nil {
			return cont, len(lines) - i
		}
		switch {
		case rec.Seq <= seq && len(cont) == 0:
			continue
		case rec.Seq == seq+1 && rec.Prev == hexHash(hash):
			cont = append(cont, line)
			seq, hash = rec.Seq, lineHash(line)
		default:
			return cont, len(lines) - i
		}
	}
	return cont, 0
}
