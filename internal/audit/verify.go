package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// ProblemKind classifies what verification found, so tooling can react to the kind and a
// person reads the Detail.
type ProblemKind string

// The problem kinds.
const (
	// Modified: a record's bytes changed (detected by the next record's Prev, or by the
	// next checkpoint when the chain was recomputed after the change).
	Modified ProblemKind = "modified"
	// Deleted: records are missing (a gap in sequence numbers and hashes).
	Deleted ProblemKind = "deleted"
	// Inserted: a line is not part of the chain.
	Inserted ProblemKind = "inserted"
	// Reordered: records are in the wrong order.
	Reordered ProblemKind = "reordered"
	// SegmentOrder: segment files are swapped, renamed or missing in the middle.
	SegmentOrder ProblemKind = "segment-order"
	// Truncated: the end of the log is missing, as far as that is detectable.
	Truncated ProblemKind = "truncated"
	// BadSignature: a checkpoint's signature does not verify.
	BadSignature ProblemKind = "bad-signature"
	// UnknownKey: a checkpoint was signed by a key that was not given.
	UnknownKey ProblemKind = "unknown-key"
	// MissingCheckpoint: a checkpoint the writer must have written is not there.
	MissingCheckpoint ProblemKind = "missing-checkpoint"
	// MissingHead: the log does not start at its first record (VerifyOptions.Partial
	// accepts that for a retained excerpt).
	MissingHead ProblemKind = "missing-head"
)

// Problem is the first inconsistency Verify found. Verification stops there: after a break
// every later line would be suspect, and the first one is what an investigator needs.
type Problem struct {
	Kind ProblemKind
	// At is the line the problem is reported at; Seq the sequence number it is about.
	At     Position
	Seq    uint64
	Detail string
}

// Error formats the problem; a Problem is also usable as an error.
func (p *Problem) Error() string {
	return fmt.Sprintf("%s at %s (seq %d): %s", p.Kind, p.At, p.Seq, p.Detail)
}

// CheckpointRef describes a checkpoint found by Verify.
type CheckpointRef struct {
	At     Position
	Seq    uint64
	Time   time.Time
	Reason CheckpointReason
	// Sig is the checkpoint's signature, which identifies it: pass the Sig of a
	// checkpoint seen in a shipped copy as VerifyOptions.ExpectCheckpoint to prove that the
	// local log was not cut back before it.
	Sig string
}

// Report is the result of Verify.
type Report struct {
	Files []string
	// Records counts the lines verified (up to the problem, if any).
	Records           uint64
	FirstSeq, LastSeq uint64
	Segments          int
	Checkpoints       int
	LastCheckpoint    *CheckpointRef
	// End is the position of the last line verified.
	End Position
	// Unsigned counts the records after the last checkpoint. They are chained but not
	// signed: see docs/audit.md for what can happen to them undetected.
	Unsigned uint64
	// Closed is true when the log ends with the closing checkpoint of Log.Close.
	Closed bool
	// Pending counts the records in the log directory's journal that continue the chain
	// past its last segment line: acknowledged, not yet written. A running writer writes
	// them within its SyncWindow; after a crash the next writer appends them first.
	Pending int
	// Problem is nil when the log verified.
	Problem *Problem
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// PublicKeys verify the checkpoints (one per signing key the log was written with).
	PublicKeys []ed25519.PublicKey
	// Partial accepts a log that does not start at its first record, e.g. a directory
	// whose older segments were deleted after shipping.
	Partial bool
	// RequireClosed reports a log that does not end with a closing checkpoint as
	// truncated. Use it for logs of agents that have stopped; a live log is never closed.
	RequireClosed bool
	// ExpectCheckpoint is the Sig of a checkpoint known from elsewhere (a shipped copy);
	// a log that does not contain it was cut back.
	ExpectCheckpoint string
	// Lookahead bounds how many lines after a chain break are read to tell deletion,
	// insertion and reordering apart; zero means 10000.
	Lookahead int
}

// Verify checks the log in paths (directories of segments, or files in log order) and
// reports the first problem with its position. The error is for failures to read or bad
// options; a tampered log is a Report with a Problem.
func Verify(paths []string, opts VerifyOptions) (*Report, error) {
	if len(opts.PublicKeys) == 0 {
		return nil, errors.New("audit verify: no public key given")
	}
	if opts.Lookahead <= 0 {
		opts.Lookahead = 10000
	}
	files, err := resolvePaths(paths)
	if err != nil {
		return nil, err
	}
	v := &verifier{
		opts: opts,
		keys: map[string]ed25519.PublicKey{},
		rd:   newLineReader(files, false),
		rep:  &Report{Files: files},
	}
	defer v.rd.close()
	for _, k := range opts.PublicKeys {
		v.keys[KeyID(k)] = k
	}
	for {
		e, err := v.rd.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if p := v.step(e); p != nil {
			v.rep.Problem = p
			return v.rep, nil
		}
	}
	v.rep.Problem = v.finish()
	if v.rep.Problem == nil && v.last != nil && len(paths) == 1 {
		if st, err := os.Stat(paths[0]); err == nil && st.IsDir() {
			lines, err := readJournal(paths[0])
			if err != nil {
				return nil, err
			}
			cont, _ := journalContinuation(lines, v.last.rec.Seq, v.last.hash)
			v.rep.Pending = len(cont)
		}
	}
	return v.rep, nil
}

// verifier is the state of one Verify run.
type verifier struct {
	opts VerifyOptions
	keys map[string]ed25519.PublicKey
	rd   *lineReader
	rep  *Report
	// last is the last line accepted into the chain.
	last *entry
	// segIndex is the index of the last segment header seen.
	segIndex uint64
	// policy is the checkpoint policy in force, nil until a header or log_open says.
	policy *CheckpointPolicy
	// run and runStart mirror the writer's unsigned run (writer.add).
	run      int
	runStart time.Time
	// lastCP is the last checkpoint accepted.
	lastCP      *CheckpointRef
	sawExpected bool
}

// step checks one line against the chain and the writer's rules and accepts it.
func (v *verifier) step(e *entry) *Problem {
	if e.partial {
		return &Problem{Kind: Truncated, At: e.pos, Seq: v.nextSeq(),
			Detail: "the last line is incomplete (no newline): the file was cut inside a record, or the writer crashed mid-write and the log was not reopened since (reopening cuts such a line)"}
	}
	if e.rec == nil {
		return &Problem{Kind: Modified, At: e.pos, Seq: v.nextSeq(),
			Detail: fmt.Sprintf("the line is not a valid record (%v): it was edited", e.err)}
	}
	rec := e.rec
	if p := v.checkSegmentOrder(e); p != nil {
		return p
	}
	if v.last == nil {
		if !v.opts.Partial && (rec.Seq != 1 || rec.Prev != genesis) {
			return &Problem{Kind: MissingHead, At: e.pos, Seq: rec.Seq,
				Detail: fmt.Sprintf("the log starts at seq %d, not at its first record: the first segments or records are missing (verify a retained excerpt with --partial)", rec.Seq)}
		}
		v.rep.FirstSeq = rec.Seq
	} else if rec.Prev != hexHash(v.last.hash) || rec.Seq != v.last.rec.Seq+1 {
		return v.diagnose(e)
	}
	if p := v.checkStructure(e); p != nil {
		return p
	}
	if p := v.checkRun(e); p != nil {
		return p
	}
	if rec.Type == TypeCheckpoint {
		if p := v.checkCheckpoint(e); p != nil {
			return p
		}
	}
	v.accept(e)
	return nil
}

func (v *verifier) nextSeq() uint64 {
	if v.last == nil {
		return 0
	}
	return v.last.rec.Seq + 1
}

// checkSegmentOrder reports segment headers out of sequence, before the chain check, so
// swapped or missing segment files are named as such rather than as a chain break.
func (v *verifier) checkSegmentOrder(e *entry) *Problem {
	seg := e.rec.Segment
	if seg == nil {
		return nil
	}
	if e.firstInFile && e.segmentFile != 0 && seg.Index != e.segmentFile {
		return &Problem{Kind: SegmentOrder, At: e.pos, Seq: e.rec.Seq,
			Detail: fmt.Sprintf("the file holds segment %d, not %d as its name says: segment files were renamed or swapped", seg.Index, e.segmentFile)}
	}
	if v.segIndex != 0 && seg.Index != v.segIndex+1 {
		return &Problem{Kind: SegmentOrder, At: e.pos, Seq: e.rec.Seq,
			Detail: fmt.Sprintf("segment %d follows segment %d: segments are out of order, or segment %d is missing", seg.Index, v.segIndex, v.segIndex+1)}
	}
	return nil
}

// checkStructure enforces where log records may stand: a segment header first in its
// segment file and right after the previous segment's rotation checkpoint, nothing else
// after a rotation checkpoint. A line that chains correctly but breaks these rules was
// placed by someone who recomputed the chain.
func (v *verifier) checkStructure(e *entry) *Problem {
	rec := e.rec
	afterRotate := v.last != nil && v.last.rec.Checkpoint != nil && v.last.rec.Checkpoint.Reason == ReasonRotate
	switch {
	case afterRotate && rec.Type != TypeSegment:
		return &Problem{Kind: Inserted, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("a %s record follows the rotation checkpoint that sealed segment %d (at %s): it was inserted with a recomputed chain", rec.Type, v.segIndex, v.last.pos)}
	case rec.Type == TypeSegment && v.last != nil && !afterRotate:
		return &Problem{Kind: Deleted, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("segment %d starts but segment %d did not end with its rotation checkpoint: records were removed from its end with a recomputed chain", rec.Segment.Index, v.segIndex)}
	case e.firstInFile && e.segmentFile != 0 && rec.Type != TypeSegment:
		return &Problem{Kind: Deleted, At: e.pos, Seq: rec.Seq,
			Detail: "the segment file does not start with its segment header: records were removed from its start"}
	}
	return nil
}

// checkRun applies the writer's checkpoint rule (writer.checkpointDue) to the record
// times: a run longer than the policy allows means a checkpoint was removed.
func (v *verifier) checkRun(e *entry) *Problem {
	rec := e.rec
	switch rec.Type {
	case TypeCheckpoint:
		return nil
	case TypeLogOpen:
		v.run, v.runStart = 1, rec.Time
		p := rec.LogOpen.Checkpoints
		v.policy = &p
		return nil
	case TypeSegment:
		p := rec.Segment.Checkpoints
		v.policy = &p
	}
	if v.run == 0 {
		v.runStart = rec.Time
	}
	v.run++
	if v.policy == nil || v.policy.Every <= 0 {
		return nil
	}
	since := "the start of the verified range"
	if v.lastCP != nil {
		since = fmt.Sprintf("the checkpoint at %s (seq %d)", v.lastCP.At, v.lastCP.Seq)
	}
	if v.run > v.policy.Every {
		return &Problem{Kind: MissingCheckpoint, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("%d records since %s without a checkpoint, but the writer signs every %d: a checkpoint was removed", v.run, since, v.policy.Every)}
	}
	if v.run > 1 && rec.Time.Sub(v.runStart) >= time.Duration(v.policy.Interval) {
		return &Problem{Kind: MissingCheckpoint, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("records span %v since %s without a checkpoint, but the writer signs every %v: a checkpoint was removed", rec.Time.Sub(v.runStart), since, v.policy.Interval)}
	}
	return nil
}

// checkCheckpoint verifies a checkpoint's content, key, signature and link to the previous
// checkpoint.
func (v *verifier) checkCheckpoint(e *entry) *Problem {
	rec, cp := e.rec, e.rec.Checkpoint
	since := "the start of the log"
	if v.lastCP != nil {
		since = fmt.Sprintf("the previous checkpoint at %s", v.lastCP.At)
	}
	if cp.LastSeq != rec.Seq-1 || cp.LastHash != rec.Prev || (v.segIndex != 0 && cp.Segment != v.segIndex) {
		return &Problem{Kind: Modified, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("the checkpoint does not describe its place in the chain: the records since %s were rewritten with a recomputed chain, or the checkpoint was edited", since)}
	}
	key, ok := v.keys[cp.KeyID]
	if !ok {
		ids := make([]string, 0, len(v.keys))
		for id := range v.keys {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return &Problem{Kind: UnknownKey, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("the checkpoint names key %s; the public keys given are %s", cp.KeyID, strings.Join(ids, ", "))}
	}
	if !verifySig(key, rec.Seq, rec.Time, cp) {
		return &Problem{Kind: BadSignature, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("the signature does not verify: the checkpoint was edited, or the records since %s were rewritten with a recomputed chain", since)}
	}
	switch {
	case v.lastCP != nil && cp.PrevSig != v.lastCP.Sig:
		return &Problem{Kind: MissingCheckpoint, At: e.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("the checkpoint does not sign over %s: checkpoints between them were removed, or records were spliced in from elsewhere", since)}
	case v.lastCP == nil && !v.opts.Partial && cp.PrevSig != "":
		return &Problem{Kind: MissingCheckpoint, At: e.pos, Seq: rec.Seq,
			Detail: "the log's first checkpoint signs over an earlier one that is not in the log"}
	}
	return nil
}

// accept makes e the chain's last line and updates the report.
func (v *verifier) accept(e *entry) {
	rec := e.rec
	v.last = e
	v.rep.Records++
	v.rep.LastSeq = rec.Seq
	v.rep.End = e.pos
	v.rep.Unsigned++
	switch rec.Type {
	case TypeSegment:
		v.segIndex = rec.Segment.Index
		v.rep.Segments++
	case TypeCheckpoint:
		v.run = 0
		v.rep.Unsigned = 0
		v.rep.Checkpoints++
		v.lastCP = &CheckpointRef{At: e.pos, Seq: rec.Seq, Time: rec.Time, Reason: rec.Checkpoint.Reason, Sig: rec.Checkpoint.Sig}
		v.rep.LastCheckpoint = v.lastCP
		if v.opts.ExpectCheckpoint != "" && rec.Checkpoint.Sig == v.opts.ExpectCheckpoint {
			v.sawExpected = true
		}
	}
}

// finish checks how the log ends.
func (v *verifier) finish() *Problem {
	if v.last == nil {
		return &Problem{Kind: Truncated, At: Position{File: strings.Join(v.rep.Files, " ")}, Detail: "the log holds no records"}
	}
	rec := v.last.rec
	if cp := rec.Checkpoint; cp != nil {
		switch cp.Reason {
		case ReasonRotate:
			return &Problem{Kind: Truncated, At: v.last.pos, Seq: rec.Seq,
				Detail: fmt.Sprintf("the log ends with the rotation checkpoint that sealed segment %d: segment %d and everything after it are missing (or the writer crashed before creating it; reopening the log does)", cp.Segment, cp.Segment+1)}
		case ReasonClose:
			v.rep.Closed = true
		}
	}
	if v.opts.ExpectCheckpoint != "" && !v.sawExpected {
		return &Problem{Kind: Truncated, At: v.last.pos, Seq: rec.Seq,
			Detail: "the expected checkpoint is not in the log: the log was cut back before it (or it belongs to another log)"}
	}
	if v.opts.RequireClosed && !v.rep.Closed {
		return &Problem{Kind: Truncated, At: v.last.pos, Seq: rec.Seq,
			Detail: fmt.Sprintf("the log does not end with a closing checkpoint: it was cut after %s, or its writer crashed or still runs", v.lastCPText())}
	}
	return nil
}

func (v *verifier) lastCPText() string {
	if v.lastCP == nil {
		return "its start (no checkpoint at all)"
	}
	return fmt.Sprintf("the checkpoint at %s (seq %d)", v.lastCP.At, v.lastCP.Seq)
}

// Summary is the report for people, as `sluice audit verify` prints it: what was checked,
// the first problem or what the log's end does and does not prove, and the signature of
// the last checkpoint, to be kept elsewhere as ExpectCheckpoint for a later verification.
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records (seq %d..%d) in %d segments, %d checkpoints\n", r.Records, r.FirstSeq, r.LastSeq, r.Segments, r.Checkpoints)
	if cp := r.LastCheckpoint; cp != nil {
		fmt.Fprintf(&b, "last checkpoint: seq %d at %s (%s, %s)\n", cp.Seq, cp.At, cp.Reason, cp.Time.UTC().Format(time.RFC3339))
	}
	if p := r.Problem; p != nil {
		fmt.Fprintf(&b, "FAILED: %s at %s (seq %d)\n  %s\n", p.Kind, p.At, p.Seq, p.Detail)
		return b.String()
	}
	switch {
	case r.Closed:
		b.WriteString("the log ends with its closing checkpoint\n")
	case r.Unsigned > 0:
		fmt.Fprintf(&b, "NOTE: the log is not closed (its writer runs, or crashed) and its last %d records, after the last checkpoint, are chained but not signed: had they been cut off, this copy would not show it (see docs/audit.md)\n", r.Unsigned)
	default:
		b.WriteString("NOTE: the log is not closed (its writer runs, or crashed); every record is covered by a checkpoint\n")
	}
	if r.Pending > 0 {
		fmt.Fprintf(&b, "NOTE: %d more acknowledged records wait in the journal, not yet in a segment: the running writer writes them within its sync window; if it crashed, the next start appends them\n", r.Pending)
	}
	if cp := r.LastCheckpoint; cp != nil {
		fmt.Fprintf(&b, "anchor (keep it elsewhere; later: --expect-checkpoint): %s\n", cp.Sig)
	}
	b.WriteString("OK: the chain and all checkpoint signatures verify\n")
	return b.String()
}
