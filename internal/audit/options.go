package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SyncPolicy says when appended records reach stable storage, trading durability against
// power loss for statement latency (an fsync costs ~1 ms on this project's VM disks, a
// write(2) ~1 us).
type SyncPolicy string

// The sync policies. With every policy Append returns only after the record is in the
// kernel's page cache (written to the segment, or copied into the journal's shared
// mapping: journal.go), so a crash or SIGKILL of the agent never loses an acknowledged
// record; they differ in what a power loss or kernel crash can lose.
const (
	// SyncAlways: Append returns after an fsync covering the record. Appenders that
	// queue while an fsync runs share the next one (group commit).
	SyncAlways SyncPolicy = "always"
	// SyncBatched: Append returns once the record is in the journal; the write and an
	// fsync covering the record follow within Options.SyncWindow. A power loss can lose
	// at most the records acknowledged in the last SyncWindow (plus the write's and the
	// fsync's own duration).
	SyncBatched SyncPolicy = "batched"
	// SyncNone: Append returns once the record is in the journal; the write follows
	// within Options.SyncWindow, fsync only at rotation and Close. A power loss can lose
	// whatever the kernel had not yet written back (typically up to 30 s).
	SyncNone SyncPolicy = "none"
)

// ParseSyncPolicy accepts the names of the policies, for configuration files and flags.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch p := SyncPolicy(s); p {
	case SyncAlways, SyncBatched, SyncNone:
		return p, nil
	}
	return "", fmt.Errorf(`audit sync policy must be "always", "batched" or "none", not %q`, s)
}

// Defaults used for zero Options fields.
const (
	DefaultSyncWindow         = 5 * time.Millisecond
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 5 * time.Second
	DefaultMaxSegmentBytes    = 64 << 20
)

// Options configures Open.
type Options struct {
	// Dir is the log directory; it is created if missing. Only one writer may hold it.
	Dir string
	// Key signs checkpoints (see LoadPrivateKey). Required: an unsigned log is only
	// tamper-evident against people who cannot recompute a SHA-256.
	Key ed25519.PrivateKey
	// Sync is the fsync policy; empty means SyncBatched.
	Sync SyncPolicy
	// SyncWindow bounds how long an acknowledged record waits for its write (and, with
	// SyncBatched, its fsync).
	SyncWindow time.Duration
	// CheckpointEvery and CheckpointInterval bound the unsigned run: a checkpoint is
	// written before a record that would make it longer than CheckpointEvery records or
	// span CheckpointInterval, and after CheckpointInterval of quiet. Together they bound
	// what can be cut off the end of the log undetectably (docs/audit.md).
	CheckpointEvery    int
	CheckpointInterval time.Duration
	// MaxSegmentBytes is the size at which the writer starts a new segment file, so
	// shippers and retention can work file by file.
	MaxSegmentBytes int64
	// JournalBytes is the size of the journal that acknowledges SyncBatched and
	// SyncNone records without a write each (journal.go); zero means
	// DefaultJournalBytes.
	JournalBytes int
	// Logger receives the writer's own trouble (failed background fsyncs, repairs);
	// nil means slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with zero fields defaulted, or an error naming a bad field.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("audit: Options.Dir is empty")
	}
	if len(o.Key) != ed25519.PrivateKeySize {
		return o, errors.New("audit: Options.Key is not an ed25519 private key")
	}
	if o.Sync == "" {
		o.Sync = SyncBatched
	}
	if _, err := ParseSyncPolicy(string(o.Sync)); err != nil {
		return o, err
	}
	if o.SyncWindow <= 0 {
		o.SyncWindow = DefaultSyncWindow
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = DefaultCheckpointEvery
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.MaxSegmentBytes <= 0 {
		o.MaxSegmentBytes = DefaultMaxSegmentBytes
	}
	if o.JournalBytes <= 0 {
		o.JournalBytes = DefaultJournalBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

func (o *Options) policy() CheckpointPolicy {
	return CheckpointPolicy{Every: o.CheckpointEvery, Interval: Nanos(o.CheckpointInterval)}
}
