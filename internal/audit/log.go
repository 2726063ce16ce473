package audit

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Log is an open audit log: the single writer of one log directory. It is safe for
// concurrent use.
//
// Appends are serialised by a mutex and each appender writes its own record with one
// write(2), so an append costs no hand-off to another goroutine (measured on this
// project's VMs: 6.4 us of CPU per append through a writer goroutine fed by channels,
// 4.6 us without it, of which JSON encoding, hashing and the write take ~3 us). fsyncs
// happen outside that mutex, one at a time, each covering every record written before it:
// appenders that queue for an fsync while one runs usually find their record covered when
// it ends (group commit).
type Log struct {
	mu     sync.Mutex // serialises the chain: every write to the segment files
	w      *writer    // guarded by mu
	closed bool       // guarded by mu

	// syncMu admits one fsync at a time; synced is the highest sequence number known to
	// be on stable storage; syncFailed makes every append sync (and fail if it cannot)
	// after a background fsync failed.
	syncMu     sync.Mutex
	synced     atomic.Uint64
	syncFailed atomic.Bool
	// syncer runs the fsyncs out of the agent's scheduler (syncer.go); nil: in-process.
	// Guarded by syncMu.
	syncer *syncer

	// The batched-sync, interval-checkpoint and deferred-write timers, guarded by mu.
	syncTimer, cpTimer, laterTimer *time.Timer
	syncArmed, cpArmed, laterArmed bool
	cpArmedFor                     time.Time // runStart of the run cpTimer was armed for
	cpRetryAt                      time.Time // no interval checkpoint attempt before this

	stats counters
}

// checkpointRetry is how long the log waits before retrying a failed interval checkpoint,
// so a full disk does not turn the timer into a busy loop.
const checkpointRetry = time.Second

// Open opens (or creates) the log in opts.Dir for appending. It takes an exclusive lock on
// the directory, so a second agent cannot interleave its own chain. If the previous writer
// crashed, an incomplete last line is cut off (it was never acknowledged) and the chain is
// continued from the last complete record; either way a log_open record says how the log
// was found. Open fails if the last record is not a valid record: continuing after damage
// would hide it, so an operator must look (sluice audit verify) first.
func Open(opts Options) (*Log, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, err
	}
	dir, err := os.Open(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(dir.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		dir.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("audit log %s is in use by another writer", opts.Dir)
		}
		return nil, fmt.Errorf("locking audit log %s: %w", opts.Dir, err)
	}
	l := &Log{}
	l.w = newWriter(opts, dir, &l.stats, &l.synced)
	if err := l.w.start(); err != nil {
		l.w.release()
		return nil, err
	}
	if opts.Sync != SyncNone {
		if l.syncer, err = startSyncer(); err != nil {
			opts.Logger.Warn("audit: no syncer helper; fsyncs run in-process", "err", err)
		}
	}
	l.syncTimer = time.AfterFunc(time.Hour, l.backgroundSync)
	l.syncTimer.Stop()
	l.cpTimer = time.AfterFunc(time.Hour, l.intervalCheckpoint)
	l.cpTimer.Stop()
	l.laterTimer = time.AfterFunc(time.Hour, l.writeDeferred)
	l.laterTimer.Stop()
	l.mu.Lock()
	l.armTimers()
	l.mu.Unlock()
	return l, nil
}

// Append writes ev to the log and returns once it is durable according to the SyncPolicy.
// An error means the record is not (reliably) in the log: the caller must not perform
// what the record describes. Errors wrap ErrUnavailable (write failures, *WriteError; a
// closed log, ErrClosed) or ErrInvalid (a malformed event). ev must not be modified until
// Append returns.
func (l *Log) Append(ev Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	rec := l.w.record(ev)
	// After a failed fsync the record is written and synced before it is acknowledged.
	err := l.w.append(rec, time.Now().UTC(), !l.syncFailed.Load())
	seq := rec.Seq
	l.armLater()
	l.armTimers()
	l.mu.Unlock()
	if err == nil && (l.w.opts.Sync == SyncAlways || l.syncFailed.Load()) {
		err = l.syncTo(seq)
	}
	if err != nil {
		l.stats.failed.Add(1)
		return err
	}
	l.stats.records.Add(1)
	return nil
}

// AppendLater adds a record that need not be acknowledged before anything else happens (a
// statement's outcome, a session's start or end: the write-ahead record is the
// statement's). It goes out with the next write, within SyncWindow. Records keep their
// order and chain. With a journal it is kept there like an appended record; without one
// (SyncAlways) a crash can lose deferred records not yet written, as it can lose batched
// records not yet synced, and the chain then ends at the last written record like after
// any crash.
func (l *Log) AppendLater(ev Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.w.appendLater(l.w.record(ev), time.Now().UTC(), true); err != nil {
		l.stats.failed.Add(1)
		return err
	}
	// Into the journal when there is room, so that a crash loses a deferred record no
	// more than it loses an appended one.
	l.w.acknowledge()
	l.armLater()
	l.stats.records.Add(1)
	return nil
}

// armLater schedules the write of buffered records within SyncWindow. Called with mu held.
func (l *Log) armLater() {
	if !l.laterArmed && l.w.pending() {
		l.laterTimer.Reset(l.w.opts.SyncWindow)
		l.laterArmed = true
	}
}

// checkEvent validates ev before it is recorded.
func checkEvent(ev Event) error {
	if ev == nil {
		return errNilEvent
	}
	return ev.validate()
}

// writeDeferred writes the buffered records, SyncWindow after the first of them, and with
// SyncBatched fsyncs them at once, so a record is on stable storage within SyncWindow
// (plus the write and fsync) of being acknowledged. A failed write is retried after
// checkpointRetry, or by the next Append; the journal keeps the acknowledged records
// meanwhile.
func (l *Log) writeDeferred() {
	l.mu.Lock()
	l.laterArmed = false
	if l.closed {
		l.mu.Unlock()
		return
	}
	err := l.w.flush(false)
	if err != nil {
		l.w.log.Error("audit: writing buffered records failed; acknowledged ones stay in the journal, the rest are lost; retrying", "err", err)
		if l.w.pending() {
			l.laterTimer.Reset(checkpointRetry)
			l.laterArmed = true
		}
	}
	target := l.w.done.seq
	l.mu.Unlock()
	if err == nil && l.w.opts.Sync == SyncBatched {
		if err := l.syncTo(target); err != nil {
			l.w.log.Error("audit: background fsync failed; appends sync themselves until one succeeds", "err", err)
		}
	}
	l.mu.Lock()
	if !l.closed {
		l.armTimers()
	}
	l.mu.Unlock()
}

// syncTo returns once the records up to seq are on stable storage. The fsync runs outside
// mu on a duplicate of the segment's descriptor, so appends continue while it runs (and a
// rotation may close the segment meanwhile).
func (l *Log) syncTo(seq uint64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.synced.Load() >= seq {
		return nil // an fsync that ran while this one waited covered it
	}
	l.mu.Lock()
	if l.synced.Load() >= seq { // a rotation or Close synced it
		l.mu.Unlock()
		return nil
	}
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	fd, path, target, err := l.w.dupSegment()
	l.mu.Unlock()
	if err != nil {
		return err
	}
	err = l.fsync(fd)
	unix.Close(fd)
	if err != nil {
		l.syncFailed.Store(true)
		return &WriteError{Op: "fsync", Path: path, Err: err}
	}
	l.stats.syncs.Add(1)
	storeMax(&l.synced, target)
	l.syncFailed.Store(false)
	return nil
}

// fsync syncs fd through the syncer helper, or in-process once the helper has failed.
// Called with syncMu held.
func (l *Log) fsync(fd int) error {
	if l.syncer != nil {
		err := l.syncer.fsync(fd)
		if !errors.Is(err, errSyncerDown) {
			return err
		}
		l.w.log.Warn("audit: the syncer helper failed; fsyncs run in-process from now on", "err", err)
		l.syncer.stop()
		l.syncer = nil
	}
	return unix.Fsync(fd)
}

// backgroundSync is SyncBatched's deferred fsync. Its failure cannot be reported to the
// appenders already acknowledged; it is logged, and syncFailed makes the next appends
// sync (and fail if they cannot) before returning.
func (l *Log) backgroundSync() {
	l.mu.Lock()
	l.syncArmed = false
	if l.closed {
		l.mu.Unlock()
		return
	}
	target := l.w.done.seq
	l.mu.Unlock()
	if err := l.syncTo(target); err != nil {
		l.w.log.Error("audit: background fsync failed; appends sync themselves until one succeeds", "err", err)
	}
}

// intervalCheckpoint signs the unsigned run of a log that went quiet.
func (l *Log) intervalCheckpoint() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cpArmed = false
	if l.closed {
		return
	}
	if err := l.w.checkpoint(ReasonInterval, time.Now().UTC(), false); err != nil {
		l.cpRetryAt = time.Now().Add(checkpointRetry)
		l.w.log.Error("audit: writing the interval checkpoint failed; retrying", "err", err)
	}
	l.armTimers()
}

// armTimers schedules the fsync of written records (unless SyncNone) and the interval
// checkpoint of an unsigned run, and cancels the checkpoint when there is no run.
// Called with mu held.
func (l *Log) armTimers() {
	w := l.w
	if w.opts.Sync != SyncNone && !l.syncArmed && w.done.seq > l.synced.Load() {
		l.syncTimer.Reset(w.opts.SyncWindow)
		l.syncArmed = true
	}
	switch {
	case w.done.runCount == 0:
		if l.cpArmed {
			l.cpTimer.Stop()
			l.cpArmed = false
		}
	case !l.cpArmed || !l.cpArmedFor.Equal(w.done.runStart):
		due := w.done.runStart.Add(w.opts.CheckpointInterval)
		if due.Before(l.cpRetryAt) {
			due = l.cpRetryAt
		}
		l.cpTimer.Reset(time.Until(due))
		l.cpArmed, l.cpArmedFor = true, w.done.runStart
	}
}

// Close writes a closing checkpoint, syncs and releases the directory. Later appends fail
// with ErrClosed. A log that ends with the closing checkpoint is known to be complete
// (docs/audit.md). A second Close returns ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.syncTimer.Stop()
	l.cpTimer.Stop()
	l.laterTimer.Stop()
	err := l.w.close()
	l.mu.Unlock()
	// Any fsync in flight finishes first (syncMu is taken before mu, never after); later
	// ones see the log closed.
	l.syncMu.Lock()
	if l.syncer != nil {
		l.syncer.stop()
		l.syncer = nil
	}
	l.syncMu.Unlock()
	return err
}

// Stats is a snapshot of the log's counters, exported for the agent's metrics (a rising
// Failed is a full or failing disk) and for benchmarks that show group commit at work.
type Stats struct {
	// Records is how many appends succeeded, Failed how many returned an error other
	// than ErrInvalid.
	Records, Failed uint64
	// Writes and Syncs count write(2) and fsync(2) calls on segment files.
	Writes, Syncs uint64
	// Checkpoints and Segments count what the writer wrote of each since Open.
	Checkpoints, Segments uint64
	// Bytes is how much was written to segment files.
	Bytes uint64
}

type counters struct {
	records, failed, writes, syncs, checkpoints, segments, bytes atomic.Uint64
}

// Stats returns the current counters.
func (l *Log) Stats() Stats {
	c := &l.stats
	return Stats{
		Records: c.records.Load(), Failed: c.failed.Load(),
		Writes: c.writes.Load(), Syncs: c.syncs.Load(),
		Checkpoints: c.checkpoints.Load(), Segments: c.segments.Load(),
		Bytes: c.bytes.Load(),
	}
}

// storeMax raises a to v unless it is already higher.
func storeMax(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
