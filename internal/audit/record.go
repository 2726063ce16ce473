package audit

import (
	"fmt"
	"time"
)

// Type names the kind of a record; it is the "type" field of every line, so shippers can
// route on it without knowing the schema.
type Type string

// The record types. The first three are written by the log itself.
const (
	TypeSegment      Type = "segment"
	TypeLogOpen      Type = "log_open"
	TypeCheckpoint   Type = "checkpoint"
	TypeSessionStart Type = "session_start"
	TypeStatement    Type = "statement"
	TypeOutcome      Type = "outcome"
	TypeSessionEnd   Type = "session_end"
	TypeAgentAction  Type = "agent_action"
)

// Record is one line of the log. The envelope (Seq, Prev, Time, Type) is filled by the
// writer; exactly one body, the one named by Type, is set.
type Record struct {
	// Seq numbers every record of the log from 1, across segments and restarts, so a
	// gap or repeat shows deletion or insertion even where the hashes were recomputed.
	Seq uint64 `json:"seq"`
	// Prev is the hex SHA-256 of the exact bytes of the previous line (without its
	// newline); for the first record it is 64 zeros.
	Prev string `json:"prev"`
	// Time is when the writer wrote the record (UTC). For a statement it is before the
	// statement was forwarded.
	Time time.Time `json:"time"`
	// Type says which body is set.
	Type Type `json:"type"`

	Segment      *Segment      `json:"segment,omitempty"`
	LogOpen      *LogOpen      `json:"log_open,omitempty"`
	Checkpoint   *Checkpoint   `json:"checkpoint,omitempty"`
	SessionStart *SessionStart `json:"session_start,omitempty"`
	Statement    *Statement    `json:"statement,omitempty"`
	Outcome      *Outcome      `json:"outcome,omitempty"`
	SessionEnd   *SessionEnd   `json:"session_end,omitempty"`
	AgentAction  *AgentAction  `json:"agent_action,omitempty"`
}

// CheckpointPolicy is how often the writer signs: a checkpoint is written before a record
// that would make the unsigned run longer than Every records or span Interval or more.
// It is recorded in the log so Verify can tell a missing checkpoint from a quiet log.
type CheckpointPolicy struct {
	Every    int   `json:"every"`
	Interval Nanos `json:"interval_ns"`
}

// Segment is the first record of every segment file. It names the segment's index so
// swapped, renamed or missing segment files are reported as such, and its Prev carries the
// last hash of the previous segment, chaining the files.
type Segment struct {
	Index       uint64           `json:"index"`
	Version     int              `json:"version"`
	Checkpoints CheckpointPolicy `json:"checkpoints"`
}

// The values of LogOpen.Previous.
const (
	PreviousNew     = "new"     // the log was created
	PreviousClosed  = "closed"  // the previous writer closed the log cleanly
	PreviousCrashed = "crashed" // the previous writer stopped without closing
)

// LogOpen is written each time a writer opens the log, so restarts and crashes are
// visible in the chain itself.
type LogOpen struct {
	// Previous says how the previous writer left the log: PreviousNew, PreviousClosed or
	// PreviousCrashed.
	Previous string `json:"previous"`
	// DroppedBytes is the size of the incomplete last line (a write torn by the crash)
	// that was cut off before appending; such a line was never acknowledged.
	DroppedBytes int64 `json:"dropped_bytes,omitempty"`
	// Recovered is how many acknowledged records the previous writer left in its journal
	// (not yet written to a segment when it died) that this writer appended first.
	Recovered int `json:"recovered,omitempty"`
	// Host and PID identify the writer, for logs shipped from many nodes.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid"`
	// Sync is the writer's SyncPolicy, so readers know what durability applied.
	Sync        SyncPolicy       `json:"sync"`
	Checkpoints CheckpointPolicy `json:"checkpoints"`
}

// CheckpointReason says why a checkpoint was written.
type CheckpointReason string

// The checkpoint reasons. A log whose last record is a ReasonClose checkpoint was closed
// cleanly; a ReasonRotate checkpoint must be followed by the next segment's header.
const (
	ReasonCount    CheckpointReason = "count"
	ReasonInterval CheckpointReason = "interval"
	ReasonRotate   CheckpointReason = "rotate"
	ReasonClose    CheckpointReason = "close"
)

// Checkpoint signs the chain up to the record before it. The signed message (see
// signedMessage) covers the checkpoint's own Seq and Time and every field here except Sig,
// including PrevSig, so checkpoints form a chain of their own that cannot be shortened or
// rewritten without the key.
type Checkpoint struct {
	Reason CheckpointReason `json:"reason"`
	// Segment is the index of the segment holding the checkpoint.
	Segment uint64 `json:"segment"`
	// LastSeq and LastHash are the sequence number and line hash of the record before
	// the checkpoint (LastHash equals the checkpoint's Prev).
	LastSeq  uint64 `json:"last_seq"`
	LastHash string `json:"last_hash"`
	// PrevSig is the previous checkpoint's Sig, empty for the log's first checkpoint.
	PrevSig string `json:"prev_sig"`
	// KeyID identifies the signing key (see KeyID), so a verifier with several public
	// keys picks the right one and a wrong key is reported as such.
	KeyID string `json:"key_id"`
	// Sig is the base64 ed25519 signature.
	Sig string `json:"sig"`
}

// Session returns the session id a record belongs to, or "" for records that belong to no
// session (log records and agent actions).
func (r *Record) Session() string {
	switch {
	case r.SessionStart != nil:
		return r.SessionStart.Session
	case r.Statement != nil:
		return r.Statement.Session
	case r.Outcome != nil:
		return r.Outcome.Session
	case r.SessionEnd != nil:
		return r.SessionEnd.Session
	}
	return ""
}

// check reports whether the record is well formed: exactly the body named by Type is set.
func (r *Record) check() error {
	var named bool
	switch r.Type {
	case TypeSegment:
		named = r.Segment != nil
	case TypeLogOpen:
		named = r.LogOpen != nil
	case TypeCheckpoint:
		named = r.Checkpoint != nil
	case TypeSessionStart:
		named = r.SessionStart != nil
	case TypeStatement:
		named = r.Statement != nil
	case TypeOutcome:
		named = r.Outcome != nil
	case TypeSessionEnd:
		named = r.SessionEnd != nil
	case TypeAgentAction:
		named = r.AgentAction != nil
	default:
		return fmt.Errorf("unknown record type %q", r.Type)
	}
	bodies := 0
	for _, set := range []bool{r.Segment != nil, r.LogOpen != nil, r.Checkpoint != nil,
		r.SessionStart != nil, r.Statement != nil, r.Outcome != nil, r.SessionEnd != nil,
		r.AgentAction != nil} {
		if set {
			bodies++
		}
	}
	switch {
	case !named:
		return fmt.Errorf("record of type %q has no %s body", r.Type, r.Type)
	case bodies != 1:
		return fmt.Errorf("record of type %q has %d bodies", r.Type, bodies)
	case r.Seq == 0:
		return fmt.Errorf("record has no sequence number")
	}
	return nil
}
