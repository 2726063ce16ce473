package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// resume positions the writer after the last complete record of the log directory and
// returns the log_open body describing how the log was found. A torn last line (the
// previous writer died inside write(2)) is cut off: it was never acknowledged unless the
// journal holds it, and the records the journal holds past the last complete line are
// then appended (recoverJournal). A segment holding no complete line
// (the writer died while starting it) is removed. Anything else that is not a valid record
// stops the agent: the chain must not silently continue past damage.
func (w *writer) resume() (*LogOpen, error) {
	segs, err := listSegments(w.opts.Dir)
	if err != nil {
		return nil, err
	}
	open := &LogOpen{Previous: PreviousNew}
	for len(segs) > 0 {
		last := segs[len(segs)-1]
		data, err := os.ReadFile(last.path)
		if err != nil {
			return nil, err
		}
		cut := bytes.LastIndexByte(data, '\n') + 1
		if cut < len(data) {
			if err := truncateSynced(last.path, int64(cut)); err != nil {
				return nil, fmt.Errorf("cutting the torn last line of %s: %w", last.path, err)
			}
			open.DroppedBytes += int64(len(data) - cut)
			w.log.Warn("audit: cut an incomplete last line left by a crash", "file", last.path, "bytes", len(data)-cut)
			data = data[:cut]
		}
		if cut == 0 {
			if err := os.Remove(last.path); err != nil {
				return nil, err
			}
			if err := w.dir.Sync(); err != nil {
				return nil, err
			}
			segs = segs[:len(segs)-1]
			continue
		}
		if data, err = w.recoverJournal(last.path, data, open); err != nil {
			return nil, err
		}
		return open, w.resumeFrom(last, data, segs[:len(segs)-1], open)
	}
	return open, nil
}

// recoverJournal appends to the last segment, whose complete lines are data, the records
// a crash left in the journal after it (acknowledged, not yet written), syncs them, and
// returns the segment's lines with them. Journal lines that do not continue the chain are
// left alone and reported: they were never acknowledged (a copy cut short) or do not
// belong to this log.
func (w *writer) recoverJournal(path string, data []byte, open *LogOpen) ([]byte, error) {
	lines, err := readJournal(w.opts.Dir)
	if err != nil || len(lines) == 0 {
		return data, err
	}
	tail := data[bytes.LastIndexByte(data[:len(data)-1], '\n')+1 : len(data)-1]
	var last Record
	if err := decodeRecord(tail, &last); err != nil {
		return data, nil // resumeFrom reports the damaged last record
	}
	cont, rest := journalContinuation(lines, last.Seq, lineHash(tail))
	if rest > 0 {
		w.log.Warn("audit: journal lines that do not continue the log were left alone", "lines", rest)
	}
	if len(cont) == 0 {
		return data, nil
	}
	add := append(bytes.Join(cont, []byte{'\n'}), '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(add)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, fmt.Errorf("appending the records the journal kept to %s: %w", path, err)
	}
	open.Recovered = len(cont)
	w.log.Info("audit: appended the records a crash left in the journal", "file", path, "records", len(cont))
	return append(data, add...), nil
}

// resumeFrom sets the chain state from the complete lines data of the last segment.
func (w *writer) resumeFrom(last segmentFile, data []byte, earlier []segmentFile, open *LogOpen) error {
	lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
	var hdr Record
	if err := decodeRecord(lines[0], &hdr); err != nil || hdr.Type != TypeSegment || hdr.Segment.Index != last.index {
		return fmt.Errorf("%s does not start with its own segment header: the log was altered or damaged; run `sluice audit verify` and move the damaged segment aside", last.path)
	}
	tail := lines[len(lines)-1]
	var rec Record
	if err := decodeRecord(tail, &rec); err != nil {
		return fmt.Errorf("the last record of %s (line %d) is damaged (%v); run `sluice audit verify` and move the damaged segment aside", last.path, len(lines), err)
	}
	sig, err := lastSignature(lines, earlier)
	if err != nil {
		return err
	}
	w.cur = chainState{
		seq:        rec.Seq,
		hash:       lineHash(tail),
		size:       int64(len(data)),
		segRecords: len(lines),
		lastSig:    sig,
	}
	w.done = w.cur
	w.segIndex = last.index
	open.Previous = PreviousCrashed
	if cp := rec.Checkpoint; cp != nil {
		switch cp.Reason {
		case ReasonClose:
			open.Previous = PreviousClosed
		case ReasonRotate:
			// The previous writer sealed this segment but died before starting the
			// next: the next append starts it.
			return nil
		}
	}
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	w.seg, w.segPath = f, last.path
	return nil
}

// lastSignature finds the signature of the log's last checkpoint, which the next checkpoint
// must sign over: in the last segment's lines, else at the end of earlier segments (each
// sealed by its rotation checkpoint). A log without checkpoints yet returns "".
func lastSignature(lines [][]byte, earlier []segmentFile) (string, error) {
	for i := len(earlier); ; i-- {
		for j := len(lines) - 1; j >= 0; j-- {
			if !bytes.Contains(lines[j], []byte(`"type":"checkpoint"`)) {
				continue
			}
			var rec Record
			if decodeRecord(lines[j], &rec) == nil && rec.Checkpoint != nil {
				return rec.Checkpoint.Sig, nil
			}
		}
		if i == 0 {
			return "", nil
		}
		data, err := os.ReadFile(earlier[i-1].path)
		if err != nil {
			return "", err
		}
		lines = bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	}
}

// decodeRecord parses one line into rec and checks it is well formed.
func decodeRecord(line []byte, rec *Record) error {
	if err := json.Unmarshal(line, rec); err != nil {
		return err
	}
	return rec.check()
}

func truncateSynced(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
