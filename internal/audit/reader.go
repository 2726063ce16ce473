package audit

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Position locates a line of the log for a person: verification problems are reported by
// file and line so they can be inspected with any editor.
type Position struct {
	File string `json:"file"`
	// Line is 1-based; Offset is the byte offset of the line's start in File.
	Line   int   `json:"line"`
	Offset int64 `json:"offset"`
}

// String formats the position as file:line, or file+offset where the line is not known.
func (p Position) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s+%d", p.File, p.Offset)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// entry is one line as read back: its position, chain hash and parsed record.
type entry struct {
	pos  Position
	hash [sha256.Size]byte
	// raw is the line without its newline, kept only when the reader was asked to.
	raw []byte
	// rec is the parsed record, nil when the line is not a valid record (err says why).
	rec *Record
	err error
	// partial is set for a last line without a newline; firstInFile for line 1 of a file.
	partial, firstInFile bool
	// segmentFile is the index the file's name carries, 0 if it is not named as a segment.
	segmentFile uint64
}

// lineReader reads the lines of a list of files as one stream, as the chain runs through
// them in order.
type lineReader struct {
	files   []string
	keepRaw bool
	next    int
	f       *os.File
	br      *bufio.Reader
	line    int
	off     int64
	segFile uint64
}

func newLineReader(files []string, keepRaw bool) *lineReader {
	return &lineReader{files: files, keepRaw: keepRaw}
}

// read returns the next line, or io.EOF after the last line of the last file.
func (r *lineReader) read() (*entry, error) {
	for {
		if r.br == nil {
			if r.next == len(r.files) {
				return nil, io.EOF
			}
			f, err := os.Open(r.files[r.next])
			if err != nil {
				return nil, err
			}
			r.f, r.br, r.line, r.off = f, bufio.NewReaderSize(f, 1<<16), 0, 0
			r.segFile, _ = parseSegmentName(filepath.Base(f.Name()))
		}
		b, err := r.br.ReadBytes('\n')
		if len(b) > 0 {
			return r.entry(b), nil
		}
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
		r.f.Close()
		r.f, r.br = nil, nil
		r.next++
	}
}

func (r *lineReader) entry(b []byte) *entry {
	e := &entry{
		pos:         Position{File: r.f.Name(), Line: r.line + 1, Offset: r.off},
		firstInFile: r.line == 0,
		segmentFile: r.segFile,
	}
	r.line++
	r.off += int64(len(b))
	if b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	} else {
		e.partial = true
	}
	e.hash = lineHash(b)
	if r.keepRaw {
		e.raw = b
	}
	rec := new(Record)
	if e.err = decodeRecord(b, rec); e.err == nil {
		e.rec = rec
	}
	return e
}

// close releases the open file, if any.
func (r *lineReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}
