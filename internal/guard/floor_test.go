package guard

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/selfexec"
)

// durableFloor is BenchmarkAuditOverhead's floor: the work any write-ahead, hash-chained,
// batch-fsynced log of this format must do, minus the format's encoding, with as little
// of it as possible in the proxy. Per record the proxy only copies a buffer the size of
// the real log's line into a ring shared with a helper process (what keeps a record
// across a kill of the agent, as the audit journal does). The helper chains SHA-256 over
// the lines, writes them to a file with one write(2) per SyncWindow and fsyncs it.
//
// The helper gives the floor every advantage; it is not a design the real log passed up:
// a probe that ran the real log, encoding included, in such a helper scored as the log
// in the proxy does (docs/performance.md).
type durableFloor struct {
	mu   sync.Mutex // serialises the sessions' copies into the ring
	ring []byte
	// head (written by the proxy) and tail (by the helper) count records; the ring's
	// slots follow them.
	head, tail *atomic.Uint64
	// overruns counts records the proxy found no free slot for: the helper fell behind
	// (or died), so the floor did not do all its work and its figure is void.
	overruns atomic.Uint64
	line     [floorSlot]byte
}

const (
	// floorRole is the helper's argv[0]; floorEnv marks its process, floorDirEnv names
	// the directory of the ring and of the file it writes.
	floorRole   = "sluice-bench-floor"
	floorEnv    = "SLUICE_BENCH_FLOOR"
	floorDirEnv = "SLUICE_BENCH_FLOOR_DIR"
	// The ring: a 64-byte header (head, tail), then floorSlots slots, each a 2-byte
	// length and the line.
	floorHeader = 64
	floorSlots  = 8192
	floorSlot   = 512
	floorBytes  = floorHeader + floorSlots*floorSlot
	// floorStatement and floorOutcome are the sizes of the real log's lines under
	// pgbench -S: a statement's, an outcome's.
	floorStatement, floorOutcome = 467, 259
	// The helper takes the new records every SyncWindow while they come, the fewest
	// wakeups that still fsync each record within it, backing off to floorIdlePoll while
	// the other arms run (the ring holds that long a gap's records).
	floorIdlePoll = 50 * time.Millisecond
)

func init() {
	if selfexec.Role(floorEnv, "1") {
		if err := runFloorHelper(os.Getenv(floorDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, floorRole+":", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// startDurableFloor creates the ring in a directory of the benchmark's own and starts the
// helper on it.
func startDurableFloor(b *testing.B) *durableFloor {
	dir := b.TempDir()
	f, err := os.OpenFile(filepath.Join(dir, "ring"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(floorBytes); err != nil {
		b.Fatal(err)
	}
	ring, err := mapRing(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Munmap(ring) })
	cmd := selfexec.RawCallerCommand(floorRole, floorEnv+"=1", floorDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	head, tail := ringCounters(ring)
	return &durableFloor{ring: ring, head: head, tail: tail}
}

// mapRing maps the ring file f into memory, shared with the other process.
func mapRing(f *os.File) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, floorBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

// ringCounters returns the ring's head and tail counters, in its header.
func ringCounters(ring []byte) (head, tail *atomic.Uint64) {
	return (*atomic.Uint64)(unsafe.Pointer(&ring[0])), (*atomic.Uint64)(unsafe.Pointer(&ring[8]))
}

// ringSlot returns the ring slot of record n.
func ringSlot(ring []byte, n uint64) []byte {
	off := floorHeader + (n%floorSlots)*floorSlot
	return ring[off : off+floorSlot]
}

func (d *durableFloor) put(size int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := d.head.Load()
	if h-d.tail.Load() >= floorSlots {
		d.overruns.Add(1)
		return
	}
	s := ringSlot(d.ring, h)
	binary.LittleEndian.PutUint16(s, uint16(size))
	copy(s[2:], d.line[:size])
	d.head.Store(h + 1)
}

func (d *durableFloor) Append(audit.Event) error      { d.put(floorStatement); return nil }
func (d *durableFloor) AppendLater(audit.Event) error { d.put(floorOutcome); return nil }

// runFloorHelper serves the ring in dir until it is killed: it chains every line to the
// one before (the hex of the predecessor's SHA-256 at its start, then its own hash, as the
// audit chain does) and writes and fsyncs what it gathered once per SyncWindow. Its
// system calls are raw, like the audit syncer's: it has nothing else to run, so blocking
// its one thread costs nothing, where a Go system call would wake the runtime's monitor.
func runFloorHelper(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "ring"), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	ring, err := mapRing(f)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(dir, "floor.jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	head, tail := ringCounters(ring)
	var prev [sha256.Size]byte
	batch := make([]byte, 0, audit.DefaultJournalBytes)
	poll := audit.DefaultSyncWindow
	for {
		ts := unix.NsecToTimespec(poll.Nanoseconds())
		unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		n, h := tail.Load(), head.Load()
		poll = min(2*poll, floorIdlePoll)
		if n < h {
			poll = audit.DefaultSyncWindow
		}
		for ; n < h; n++ {
			s := ringSlot(ring, n)
			size := binary.LittleEndian.Uint16(s)
			start := len(batch)
			batch = append(batch, s[2:2+size]...)
			hex.Encode(batch[start:], prev[:])
			prev = sha256.Sum256(batch[start:])
			batch = append(batch, '\n')
			tail.Store(n + 1)
		}
		if len(batch) > 0 {
			if err := rawWriteSync(int(out.Fd()), batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
}

// rawWriteSync appends data to fd, which is in append mode, and fsyncs it.
func rawWriteSync(fd int, data []byte) error {
	for len(data) > 0 {
		n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)))
		if e != 0 {
			return fmt.Errorf("write: %w", e)
		}
		data = data[n:]
	}
	if _, _, e := unix.RawSyscall(unix.SYS_FSYNC, uintptr(fd), 0, 0); e != 0 {
		return fmt.Errorf("fsync: %w", e)
	}
	return nil
}
