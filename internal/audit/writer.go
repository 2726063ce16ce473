package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// formatVersion is Segment.Version: the version of the record schema and chain rules.
const formatVersion = 1

// chainState is the writer's position in the chain. The writer keeps three: cur includes
// every line buffered for the next write, acked the buffered lines appenders were told are
// logged (they are in the journal), done only what is in the file. A failed write is
// undone by truncating the file to done.size; the lines past acked are dropped (their
// appenders get the error), the acknowledged ones stay buffered for the next write.
type chainState struct {
	seq  uint64
	hash [sha256.Size]byte
	// size is the byte size of the current segment, segRecords its number of records.
	size       int64
	segRecords int
	// sealed is set once the segment's rotation checkpoint is written: nothing but the
	// next segment's header may follow it.
	sealed bool
	// lastSig is the signature of the last checkpoint, which the next one signs over.
	lastSig string
	// runCount and runStart describe the unsigned run: the records since the last
	// checkpoint (checkpoints themselves excluded) and the time of its first record.
	runCount int
	runStart time.Time
	// checkpoints and segments count what was written since Open, for Stats.
	checkpoints, segments uint64
}

// writer owns the segment files. All its methods run with Log.mu held.
type writer struct {
	opts  Options
	keyID string
	dir   *os.File // the locked log directory, fsynced after creating a segment
	// seg is the segment being appended to; nil when the next record must start a new
	// segment (fresh log, or a rotation whose new segment could not be created yet).
	seg      *os.File
	segPath  string
	segIndex uint64 // index of seg, or of the last segment while seg is nil
	cur      chainState
	acked    chainState
	done     chainState
	buf      []byte // the encoded lines not yet written
	// scratch is the record being appended: one per writer rather than one allocation
	// per statement, since appends are serialised and nothing keeps a record once its
	// line is encoded.
	scratch Record
	// journal holds the buffered lines up to acked; nil with SyncAlways (every append
	// is written and synced before it is acknowledged) or when it could not be created.
	journal *journal
	// stalled is set by a failed write while acknowledged lines are buffered: appends
	// are then acknowledged only by a write of their own, so a full disk refuses
	// statements within one SyncWindow instead of filling the journal.
	stalled bool
	sw      segmentWriter
	// torn: a failed write could not be cut back, so the file must be truncated before
	// anything else is written to it.
	torn     bool
	stats    *counters
	synced   *atomic.Uint64 // Log.synced, raised by the writer's own fsyncs
	log      *slog.Logger
	hostname string
}

func newWriter(opts Options, dir *os.File, stats *counters, synced *atomic.Uint64) *writer {
	w := &writer{
		opts:   opts,
		keyID:  KeyID(opts.Key.Public().(ed25519.PublicKey)),
		dir:    dir,
		stats:  stats,
		synced: synced,
		log:    opts.Logger,
	}
	w.hostname, _ = os.Hostname()
	return w
}

// start resumes the chain from the directory and writes the log_open record, synced.
func (w *writer) start() error {
	open, err := w.resume()
	if err != nil {
		return err
	}
	open.Host, open.PID = w.hostname, os.Getpid()
	open.Sync, open.Checkpoints = w.opts.Sync, w.opts.policy()
	if err := w.append(&Record{Type: TypeLogOpen, LogOpen: open}, time.Now().UTC(), false); err != nil {
		return err
	}
	if err := w.flush(true); err != nil {
		return err
	}
	// Only now: until the recovered lines and log_open were synced, the old journal was
	// the only copy of what a crash left in it.
	if w.opts.Sync == SyncAlways {
		if err := os.Remove(filepath.Join(w.opts.Dir, journalName)); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.log.Warn("audit: removing the journal of an earlier writer", "err", err)
		}
		return nil
	}
	if w.journal, err = createJournal(w.opts.Dir, w.opts.JournalBytes); err != nil {
		w.log.Warn("audit: no journal; every statement record is written on its own", "err", err)
	}
	return nil
}

// release closes the directory (dropping the lock) and the segment after a failed Open.
func (w *writer) release() {
	if w.seg != nil {
		w.seg.Close()
	}
	w.dir.Close()
}

// record wraps ev in the writer's scratch record; add fills in sequence, chain and time.
func (w *writer) record(ev Event) *Record {
	w.scratch = Record{Type: ev.recordType()}
	ev.attach(&w.scratch)
	return &w.scratch
}

// append adds rec, preceded by whatever rotation and checkpoint the chain needs, and
// acknowledges it: in the journal if mayJournal, or else written with one write(2). On
// error nothing of it is logged.
func (w *writer) append(rec *Record, now time.Time, mayJournal bool) error {
	if err := w.appendLater(rec, now, false); err != nil {
		return err // add leaves the pending records as they were; nothing to undo
	}
	if mayJournal && w.acknowledge() {
		return nil
	}
	return w.flush(false)
}

// acknowledge copies the buffered lines into the journal, which makes them acknowledged,
// and reports whether it could.
func (w *writer) acknowledge() bool {
	if w.journal == nil || w.stalled {
		return false
	}
	if w.journal.mirror(w.buf) {
		w.acked = w.cur
		return true
	}
	if w.journal.faulted {
		w.log.Error("audit: the journal's file was cut short under the writer; from now on every record is written on its own",
			"file", filepath.Join(w.opts.Dir, journalName))
		_ = w.journal.close()
		w.journal = nil
	}
	return false
}

// pending reports whether buffered lines wait for a write.
func (w *writer) pending() bool { return len(w.buf) > 0 }

// dropUnacked forgets the buffered lines past acked after a failed write.
func (w *writer) dropUnacked() {
	w.buf = w.buf[:w.acked.size-w.done.size]
	w.cur = w.acked
}

// appendLater adds rec to the pending buffer without writing it (see Log.AppendLater);
// deferred tells that no appender waits for it (checkpointDue).
func (w *writer) appendLater(rec *Record, now time.Time, deferred bool) error {
	if err := w.ensureSegment(now, true); err != nil {
		return err
	}
	if reason := w.checkpointDue(now, deferred); reason != "" {
		w.addCheckpoint(reason, now)
	}
	return w.add(rec, now)
}

// checkpoint writes a checkpoint with reason: always for ReasonClose, otherwise only if
// records are unsigned.
func (w *writer) checkpoint(reason CheckpointReason, now time.Time, sync bool) error {
	if reason != ReasonClose && w.cur.runCount == 0 {
		return nil
	}
	if err := w.ensureSegment(now, false); err != nil {
		return err
	}
	w.addCheckpoint(reason, now)
	return w.flush(sync)
}

// checkpointDue returns the reason of the checkpoint that must precede a record written at
// now, or "" if none must, so that no unsigned run is longer than CheckpointEvery records
// or spans CheckpointInterval. Verify applies the same rule to the times written in the
// records, so a missing checkpoint is detected without false alarms. Before a deferred
// record (an outcome, which no client waits for) the count is due an eighth early: the
// signature then rarely delays a statement's record, which its client does wait for.
func (w *writer) checkpointDue(now time.Time, deferred bool) CheckpointReason {
	every := w.opts.CheckpointEvery
	if deferred {
		every -= every / 8
	}
	switch {
	case w.cur.runCount >= every:
		return ReasonCount
	case w.cur.runCount > 0 && now.Sub(w.cur.runStart) >= w.opts.CheckpointInterval:
		return ReasonInterval
	}
	return ""
}

// ensureSegment makes sure there is a segment to append to: it starts one when there is
// none and, if mayRotate, rotates a full one (rotation checkpoint, fsync, new segment). A
// rotation that failed halfway is completed, never started twice.
func (w *writer) ensureSegment(now time.Time, mayRotate bool) error {
	if w.seg != nil {
		if !w.cur.sealed {
			if !mayRotate || w.cur.size < w.opts.MaxSegmentBytes || w.cur.segRecords <= 1 {
				return nil
			}
			w.addCheckpoint(ReasonRotate, now)
		}
		if err := w.flush(true); err != nil {
			return err
		}
		if err := w.seg.Close(); err != nil {
			w.log.Warn("audit: closing a full segment failed", "file", w.segPath, "err", err)
		}
		w.seg = nil
	}
	return w.startSegment(now)
}

// startSegment creates the next segment file and writes its header, synced together with
// the directory entry. On failure the file is removed and the writer stays without a
// segment; the next append tries again.
func (w *writer) startSegment(now time.Time) error {
	saved := w.done
	index := w.segIndex + 1
	path := filepath.Join(w.opts.Dir, segmentName(index))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return &WriteError{Op: "create segment", Path: path, Err: err}
	}
	w.seg, w.segPath, w.segIndex = f, path, index
	w.cur.size, w.cur.segRecords, w.cur.sealed = 0, 0, false
	w.cur.segments++
	w.done, w.acked = w.cur, w.cur
	hdr := &Record{Type: TypeSegment, Segment: &Segment{Index: index, Version: formatVersion, Checkpoints: w.opts.policy()}}
	err = w.add(hdr, now)
	if err == nil {
		err = w.flush(true)
	}
	if err == nil {
		if serr := w.dir.Sync(); serr != nil {
			err = &WriteError{Op: "fsync directory", Path: w.opts.Dir, Err: serr}
		}
	}
	if err != nil {
		f.Close()
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			w.log.Warn("audit: removing a segment that could not be started", "file", path, "err", rerr)
		}
		w.seg, w.segIndex = nil, index-1
		w.cur, w.acked, w.done = saved, saved, saved
		w.buf = w.buf[:0]
		w.torn = false
		return err
	}
	w.stats.segments.Store(w.done.segments)
	return nil
}

// add assigns rec its place in the chain and encodes it into the buffer.
func (w *writer) add(rec *Record, now time.Time) error {
	rec.Seq, rec.Prev, rec.Time = w.cur.seq+1, hexHash(w.cur.hash), now
	start := len(w.buf)
	buf, err := appendRecord(w.buf, rec)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	line := buf[start:]
	w.buf = append(buf, '\n')
	w.cur.seq, w.cur.hash = rec.Seq, lineHash(line)
	w.cur.size += int64(len(line) + 1)
	w.cur.segRecords++
	switch rec.Type {
	case TypeCheckpoint:
		w.cur.runCount = 0
		w.cur.lastSig = rec.Checkpoint.Sig
		w.cur.sealed = rec.Checkpoint.Reason == ReasonRotate
		w.cur.checkpoints++
	case TypeLogOpen:
		// A new writer starts a new run: the time the agent was down must not count
		// against the interval rule (Verify resets at log_open too).
		w.cur.runCount, w.cur.runStart = 1, now
	default:
		if w.cur.runCount == 0 {
			w.cur.runStart = now
		}
		w.cur.runCount++
	}
	return nil
}

// addCheckpoint signs the chain up to the last buffered record.
func (w *writer) addCheckpoint(reason CheckpointReason, now time.Time) {
	cp := &Checkpoint{
		Reason:   reason,
		Segment:  w.segIndex,
		LastSeq:  w.cur.seq,
		LastHash: hexHash(w.cur.hash),
		PrevSig:  w.cur.lastSig,
		KeyID:    w.keyID,
	}
	sign(w.opts.Key, w.cur.seq+1, now, cp)
	// Encoding a checkpoint cannot fail: it has only strings and integers.
	_ = w.add(&Record{Type: TypeCheckpoint, Checkpoint: cp}, now)
}

// flush writes the buffered lines with one write(2) and, if sync, fsyncs the segment. A
// failed write is undone: the file is truncated back to the last complete line and the
// chain state reset, so no partial line is ever followed by more. (On a full tmpfs a write
// is genuinely partial: the kernel fills the file's last page, then fails with ENOSPC.)
func (w *writer) flush(sync bool) error {
	if len(w.buf) > 0 {
		err := w.repair()
		if err == nil {
			if werr := w.sw.write(w.seg, w.buf); werr != nil {
				if terr := w.seg.Truncate(w.done.size); terr != nil {
					w.torn = true
					w.log.Error("audit: cannot cut back a failed write; appends fail until it can", "file", w.segPath, "err", terr)
				}
				err = &WriteError{Op: "write", Path: w.segPath, Err: werr}
			}
		}
		if err != nil {
			w.dropUnacked()
			w.stalled = w.pending()
			return err
		}
		w.stats.writes.Add(1)
		w.stats.bytes.Add(uint64(len(w.buf)))
		w.buf = w.buf[:0]
		w.done, w.acked, w.stalled = w.cur, w.cur, false
		if w.journal != nil {
			w.journal.reset()
		}
		w.stats.checkpoints.Store(w.done.checkpoints)
	}
	if !sync {
		return nil
	}
	if err := w.seg.Sync(); err != nil {
		return &WriteError{Op: "fsync", Path: w.segPath, Err: err}
	}
	w.stats.syncs.Add(1)
	storeMax(w.synced, w.done.seq)
	return nil
}

// repair truncates away the remains of a write that failed and could not be cut back.
func (w *writer) repair() error {
	if !w.torn {
		return nil
	}
	if err := w.seg.Truncate(w.done.size); err != nil {
		return &WriteError{Op: "truncate", Path: w.segPath, Err: err}
	}
	w.torn = false
	return nil
}

// dupSegment returns a duplicate descriptor of the current segment for an fsync outside
// Log.mu, with the segment's path and the last sequence number written to it.
func (w *writer) dupSegment() (fd int, path string, seq uint64, err error) {
	if w.seg == nil {
		// Between segments every record is synced (the rotation synced the old one):
		// only a failed rotation fsync leads here, and the next append retries it.
		return -1, w.segPath, 0, &WriteError{Op: "fsync", Path: w.segPath, Err: errors.New("segment rotation incomplete")}
	}
	fd, err = unix.Dup(int(w.seg.Fd()))
	if err != nil {
		return -1, w.segPath, 0, &WriteError{Op: "fsync", Path: w.segPath, Err: err}
	}
	return fd, w.segPath, w.done.seq, nil
}

// close writes the closing checkpoint, syncs, and releases the directory lock.
func (w *writer) close() error {
	err := w.checkpoint(ReasonClose, time.Now().UTC(), true)
	if w.seg != nil {
		err = errors.Join(err, w.seg.Close())
	}
	if serr := w.dir.Sync(); serr != nil {
		err = errors.Join(err, serr)
	}
	if w.journal != nil {
		err = errors.Join(err, w.journal.close())
	}
	return errors.Join(err, w.dir.Close())
}
