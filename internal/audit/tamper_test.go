package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tamperFixture writes a closed log of several segments with frequent checkpoints.
func tamperFixture(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, func(o *Options) { o.MaxSegmentBytes = 4096; o.CheckpointEvery = 10 })
	for i := range 150 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	mustClose(t, l)
	rep := mustVerify(t, key, dir)
	if rep.Segments < 5 || rep.Checkpoints < 15 || !rep.Closed {
		t.Fatalf("fixture too small to tamper with: %+v", rep)
	}
	return dir, key
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	data := append(bytes.Join(lines, []byte{'\n'}), '\n')
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func parse(t *testing.T, line []byte) *Record {
	t.Helper()
	r := new(Record)
	if err := decodeRecord(line, r); err != nil {
		t.Fatal(err)
	}
	return r
}

// encode encodes rec exactly as the writer does.
func encode(t *testing.T, rec *Record) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rec); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'})
}

// firstLine returns the 0-based index of the first line of lines from index from on whose
// record satisfies ok, and of its successor too (both statements, say).
func firstLine(t *testing.T, lines [][]byte, from int, ok func(*Record) bool) int {
	t.Helper()
	for i := from; i < len(lines); i++ {
		if ok(parse(t, lines[i])) {
			return i
		}
	}
	t.Fatal("no such line")
	return 0
}

func isStatement(r *Record) bool { return r.Statement != nil }

// statementPair returns the index of a statement line in the middle of lines that is
// preceded and followed by statements, so edits there hit plain records.
func statementPair(t *testing.T, lines [][]byte) int {
	t.Helper()
	for i := 3; i+2 < len(lines); i++ {
		if isStatement(parse(t, lines[i-1])) && isStatement(parse(t, lines[i])) && isStatement(parse(t, lines[i+1])) && isStatement(parse(t, lines[i+2])) {
			return i
		}
	}
	t.Fatal("no run of statements in segment")
	return 0
}

// rechain rewrites every line from the (file, index) position on with Seq and Prev
// recomputed, as
// someone without the signing key would after editing: the hash chain is consistent
// again, and only checkpoints can tell.
func rechain(t *testing.T, dir string, fromFile uint64, fromLine int) {
	t.Helper()
	segs, err := listSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	var prev [32]byte
	var seq uint64
	for _, s := range segs {
		lines := readLines(t, s.path)
		for i := range lines {
			if s.index > fromFile || (s.index == fromFile && i >= fromLine) {
				r := parse(t, lines[i])
				r.Seq, r.Prev = seq+1, hexHash(prev)
				lines[i] = encode(t, r)
			}
			prev = lineHash(lines[i])
			seq = parse(t, lines[i]).Seq
		}
		writeLines(t, s.path, lines)
	}
}

func TestTamperDetection(t *testing.T) {
	base, key := tamperFixture(t)
	seg2 := func(dir string) string { return segmentPath(dir, 2) }

	type want struct {
		kind ProblemKind
		seg  uint64 // the segment file the problem is reported in
		line int    // 1-based
	}
	cases := []struct {
		name   string
		opts   VerifyOptions
		tamper func(t *testing.T, dir string) want
	}{
		{"edit one byte of a statement's text", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			lines[i] = bytes.Replace(lines[i], []byte(`"text":"SELECT `), []byte(`"text":"DELETE `), 1)
			writeLines(t, seg2(dir), lines)
			return want{Modified, 2, i + 1}
		}},
		{"edit one byte that breaks the JSON", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			lines[i][0] = '['
			writeLines(t, seg2(dir), lines)
			return want{Modified, 2, i + 1}
		}},
		{"edit a sequence number", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			r := parse(t, lines[i])
			lines[i] = bytes.Replace(lines[i], fmt.Appendf(nil, `{"seq":%d,`, r.Seq), fmt.Appendf(nil, `{"seq":%d,`, r.Seq+1000), 1)
			writeLines(t, seg2(dir), lines)
			return want{Modified, 2, i + 1}
		}},
		{"edit one byte of a prev hash", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			j := bytes.Index(lines[i], []byte(`"prev":"`)) + len(`"prev":"`)
			lines[i][j] ^= 1
			writeLines(t, seg2(dir), lines)
			return want{Modified, 2, i + 1}
		}},
		{"edit the record a checkpoint signs", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := firstLine(t, lines, 1, func(r *Record) bool { return r.Checkpoint != nil && r.Checkpoint.Reason == ReasonCount }) - 1
			lines[i] = bytes.Replace(lines[i], []byte(`"decision":"allow"`), []byte(`"decision":"deny"`), 1)
			writeLines(t, seg2(dir), lines)
			return want{Modified, 2, i + 1}
		}},
		{"edit one byte of a checkpoint signature", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := firstLine(t, lines, 0, func(r *Record) bool { return r.Checkpoint != nil })
			j := bytes.Index(lines[i], []byte(`"sig":"`)) + len(`"sig":"`) + 3
			lines[i][j] = 'A' + (lines[i][j]-'A'+1)%26
			writeLines(t, seg2(dir), lines)
			return want{BadSignature, 2, i + 1}
		}},
		{"delete one record", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			writeLines(t, seg2(dir), append(lines[:i:i], lines[i+1:]...))
			return want{Deleted, 2, i + 1}
		}},
		{"delete three records", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			writeLines(t, seg2(dir), append(lines[:i-1:i-1], lines[i+2:]...))
			return want{Deleted, 2, i}
		}},
		{"insert a forged record that chains to its predecessor", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			forged := parse(t, lines[i])
			forged.Statement.Text = "DROP TABLE evidence"
			ins := encode(t, forged) // same seq and prev as line i
			writeLines(t, seg2(dir), append(lines[:i:i], append([][]byte{ins}, lines[i:]...)...))
			return want{Inserted, 2, i + 1}
		}},
		{"insert a copy of an earlier record", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			dup := bytes.Clone(lines[i-2])
			writeLines(t, seg2(dir), append(lines[:i:i], append([][]byte{dup}, lines[i:]...)...))
			return want{Inserted, 2, i + 1}
		}},
		{"swap two adjacent records", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			lines[i], lines[i+1] = lines[i+1], lines[i]
			writeLines(t, seg2(dir), lines)
			return want{Reordered, 2, i + 1}
		}},
		{"move a record three places later", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			moved := lines[i]
			rest := append(lines[:i:i], lines[i+1:]...)
			rest = append(rest[:i+3:i+3], append([][]byte{moved}, rest[i+3:]...)...)
			writeLines(t, seg2(dir), rest)
			return want{Reordered, 2, i + 1}
		}},
		{"swap two segment files", VerifyOptions{}, func(t *testing.T, dir string) want {
			a, b := segmentPath(dir, 2), segmentPath(dir, 3)
			tmp := filepath.Join(dir, "tmp")
			for _, mv := range [][2]string{{a, tmp}, {b, a}, {tmp, b}} {
				if err := os.Rename(mv[0], mv[1]); err != nil {
					t.Fatal(err)
				}
			}
			return want{SegmentOrder, 2, 1}
		}},
		{"delete a middle segment file", VerifyOptions{}, func(t *testing.T, dir string) want {
			if err := os.Remove(segmentPath(dir, 3)); err != nil {
				t.Fatal(err)
			}
			return want{SegmentOrder, 4, 1}
		}},
		{"delete the first segment file", VerifyOptions{}, func(t *testing.T, dir string) want {
			if err := os.Remove(segmentPath(dir, 1)); err != nil {
				t.Fatal(err)
			}
			return want{MissingHead, 2, 1}
		}},
		{"delete the last segment file", VerifyOptions{}, func(t *testing.T, dir string) want {
			segs, _ := listSegments(dir)
			last := segs[len(segs)-1].index
			if err := os.Remove(segmentPath(dir, last)); err != nil {
				t.Fatal(err)
			}
			return want{Truncated, last - 1, len(readLines(t, segmentPath(dir, last-1)))}
		}},
		{"truncate inside the last record", VerifyOptions{}, func(t *testing.T, dir string) want {
			segs, _ := listSegments(dir)
			p := segs[len(segs)-1].path
			data, _ := os.ReadFile(p)
			if err := os.WriteFile(p, data[:len(data)-20], 0o640); err != nil {
				t.Fatal(err)
			}
			return want{Truncated, segs[len(segs)-1].index, len(readLines(t, p))}
		}},
		{"cut the tail off, closed log required", VerifyOptions{RequireClosed: true}, func(t *testing.T, dir string) want {
			segs, _ := listSegments(dir)
			s := segs[len(segs)-1]
			lines := readLines(t, s.path)
			keep := len(lines) - 3
			writeLines(t, s.path, lines[:keep])
			return want{Truncated, s.index, keep}
		}},
		{"remove a checkpoint and recompute the chain", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := firstLine(t, lines, 1, func(r *Record) bool { return r.Checkpoint != nil && r.Checkpoint.Reason == ReasonCount })
			writeLines(t, seg2(dir), append(lines[:i:i], lines[i+1:]...))
			rechain(t, dir, 2, i)
			return want{MissingCheckpoint, 2, i + 1}
		}},
		{"edit a record and recompute the chain", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			lines[i] = bytes.Replace(lines[i], []byte(`"text":"SELECT `), []byte(`"text":"DELETE `), 1)
			writeLines(t, seg2(dir), lines)
			rechain(t, dir, 2, i+1)
			cp := firstLine(t, readLines(t, seg2(dir)), i, func(r *Record) bool { return r.Checkpoint != nil })
			return want{Modified, 2, cp + 1}
		}},
		{"edit a record, recompute the chain and the checkpoint's hash", VerifyOptions{}, func(t *testing.T, dir string) want {
			lines := readLines(t, seg2(dir))
			i := statementPair(t, lines)
			lines[i] = bytes.Replace(lines[i], []byte(`"text":"SELECT `), []byte(`"text":"DELETE `), 1)
			cp := firstLine(t, lines, i, func(r *Record) bool { return r.Checkpoint != nil })
			var prev [32]byte
			for j := i; j <= cp; j++ {
				if j > i {
					r := parse(t, lines[j])
					r.Prev = hexHash(prev)
					if r.Checkpoint != nil {
						r.Checkpoint.LastHash = r.Prev
					}
					lines[j] = encode(t, r)
				}
				prev = lineHash(lines[j])
			}
			writeLines(t, seg2(dir), lines)
			rechain(t, dir, 2, cp+1)
			return want{BadSignature, 2, cp + 1}
		}},
		{"verify with another key", VerifyOptions{}, func(t *testing.T, dir string) want {
			return want{UnknownKey, 1, 0} // line filled in below: the first checkpoint
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, base)
			w := c.tamper(t, dir)
			k := key
			if w.kind == UnknownKey {
				k = testKey(t)
				w.line = firstLine(t, readLines(t, segmentPath(dir, 1)), 0, func(r *Record) bool { return r.Checkpoint != nil }) + 1
			}
			rep := verify(t, k, c.opts, dir)
			p := rep.Problem
			if p == nil {
				t.Fatalf("tampering went unnoticed: %+v", rep)
			}
			t.Logf("reported: %v", p)
			if p.Kind != w.kind || filepath.Base(p.At.File) != segmentName(w.seg) || p.At.Line != w.line {
				t.Errorf("reported %s at %s:%d, want %s at %s:%d", p.Kind, filepath.Base(p.At.File), p.At.Line, w.kind, segmentName(w.seg), w.line)
			}
			if !strings.Contains(rep.Summary(), "FAILED") {
				t.Errorf("summary does not say FAILED:\n%s", rep.Summary())
			}
		})
	}
}

// A log cut back after its last checkpoint is not provably truncated from the files alone;
// Verify must say where the signed part ends, and an anchor from a shipped copy must catch
// the cut.
func TestTruncationAfterCheckpoint(t *testing.T) {
	base, key := tamperFixture(t)
	full := mustVerify(t, key, base)
	anchor := full.LastCheckpoint.Sig

	// Cut right after a count checkpoint, keeping one record after it, and drop the later
	// segments: the cut log ends in a state the writer could have left.
	dir := copyDir(t, base)
	segs, _ := listSegments(dir)
	s := segs[len(segs)-2]
	lines := readLines(t, s.path)
	i := firstLine(t, lines, 1, func(r *Record) bool { return r.Checkpoint != nil && r.Checkpoint.Reason == ReasonCount })
	writeLines(t, s.path, lines[:i+2])
	if err := os.Remove(segs[len(segs)-1].path); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, key, VerifyOptions{}, dir)
	if rep.Problem != nil {
		t.Fatalf("a log cut after a checkpoint verified with a problem: %v", rep.Problem)
	}
	if rep.Closed || rep.Unsigned != 1 || rep.LastCheckpoint.At.Line != i+1 {
		t.Errorf("report = %+v, want not closed, 1 unsigned record after the checkpoint at line %d", rep, i+1)
	}
	if !strings.Contains(rep.Summary(), "not closed") {
		t.Errorf("summary does not warn:\n%s", rep.Summary())
	}
	rep = verify(t, key, VerifyOptions{ExpectCheckpoint: anchor}, dir)
	if p := rep.Problem; p == nil || p.Kind != Truncated || p.At.Line != i+2 {
		t.Errorf("with the anchor: problem = %v, want truncated at line %d", p, i+2)
	}
	// The anchor of the intact log is found.
	if rep := verify(t, key, VerifyOptions{ExpectCheckpoint: anchor, RequireClosed: true}, base); rep.Problem != nil {
		t.Errorf("intact log with its anchor: %v", rep.Problem)
	}
}

// Shipped copies: a retained excerpt verifies with Partial, and a copy that concatenates
// the segments into one file verifies as the original.
func TestVerifyExcerptsAndCopies(t *testing.T) {
	base, key := tamperFixture(t)
	dir := copyDir(t, base)
	if err := os.Remove(segmentPath(dir, 1)); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, key, VerifyOptions{Partial: true}, dir); rep.Problem != nil || rep.FirstSeq <= 1 {
		t.Errorf("partial: %+v", rep)
	}

	files, err := resolvePaths([]string{base})
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, f := range files {
		data, _ := os.ReadFile(f)
		all = append(all, data...)
	}
	one := filepath.Join(t.TempDir(), "shipped.jsonl")
	if err := os.WriteFile(one, all, 0o640); err != nil {
		t.Fatal(err)
	}
	if rep := mustVerify(t, key, one); !rep.Closed || rep.Segments != len(files) {
		t.Errorf("concatenated copy: %+v", rep)
	}
}

// Cutting a live log back does not go unnoticed for long: the writer continues from its
// in-memory chain, so its next record (an interval checkpoint at the latest) links to a
// record that is no longer there.
func TestTruncatingALiveLog(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	l := openLog(t, dir, key, nil)
	for i := range 10 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	written(l)
	path, _ := lastSegment(t, dir)
	lines := readLines(t, path)
	cut := len(lines) - 3
	writeLines(t, path, lines[:cut])
	if rep := verify(t, key, VerifyOptions{}, dir); rep.Problem != nil {
		t.Fatalf("the cut itself is a valid prefix, yet: %v", rep.Problem)
	}
	mustAppend(t, l, stmt("s", 11, "SELECT 'after the cut'"))
	mustClose(t, l)
	rep := verify(t, key, VerifyOptions{}, dir)
	if p := rep.Problem; p == nil || p.Kind != Deleted || p.At.Line != cut+1 {
		t.Fatalf("problem = %v, want deleted at line %d", p, cut+1)
	}
}
