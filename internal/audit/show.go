package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// printer writes records for people (Render) or passes their lines through (JSON), and
// counts lines that are not records instead of stopping: a reader of a damaged log still
// wants to see the rest (and `sluice audit verify` says what happened).
type printer struct {
	w    io.Writer
	json bool
	bad  int
}

func (p *printer) print(raw []byte, rec *Record, pos Position, parseErr error) error {
	if rec == nil {
		p.bad++
		if p.json {
			return nil
		}
		_, err := fmt.Fprintf(p.w, "!! %s: not a valid audit record: %v\n", pos, parseErr)
		return err
	}
	if p.json {
		_, err := p.w.Write(append(raw, '\n'))
		return err
	}
	return Render(p.w, rec)
}

func (p *printer) result() error {
	if p.bad > 0 {
		return fmt.Errorf("%d lines were not valid audit records (run `sluice audit verify`)", p.bad)
	}
	return nil
}

// Show writes every record of session in the log at paths (directories or files) to w:
// one rendered line per record, or the record's own JSON line when asJSON.
func Show(w io.Writer, paths []string, session string, asJSON bool) error {
	if session == "" {
		return errors.New("no session id given")
	}
	files, err := resolvePaths(paths)
	if err != nil {
		return err
	}
	rd := newLineReader(files, true)
	defer rd.close()
	p := &printer{w: w, json: asJSON}
	for {
		e, err := rd.read()
		if errors.Is(err, io.EOF) {
			return p.result()
		}
		if err != nil {
			return err
		}
		if e.partial {
			continue // a line still being written
		}
		if e.rec != nil && e.rec.Session() != session {
			continue
		}
		if err := p.print(e.raw, e.rec, e.pos, e.err); err != nil {
			return err
		}
	}
}

// TailOptions configures Tail.
type TailOptions struct {
	// Lines is how many of the last records to print first.
	Lines int
	// Follow keeps printing records as they are appended, following the writer into new
	// segments when the path is a log directory, until ctx ends.
	Follow bool
	// JSON passes the records' lines through instead of rendering them.
	JSON bool
	// Poll is how often Follow looks for new records; zero means 250ms.
	Poll time.Duration
}

// Tail writes the last opts.Lines records of the log at paths to w and, with Follow,
// the records appended after them.
func Tail(ctx context.Context, w io.Writer, paths []string, opts TailOptions) error {
	if opts.Lines < 0 {
		return errors.New("the number of lines to print must not be negative")
	}
	files, err := resolvePaths(paths)
	if err != nil {
		return err
	}
	p := &printer{w: w, json: opts.JSON}
	// Collect the last lines, reading segments backwards until there are enough; the
	// last file is always read, to know where following starts.
	var lines []tailLine
	var offset int64
	for i := len(files) - 1; i >= 0 && (i == len(files)-1 || len(lines) < opts.Lines); i-- {
		data, err := os.ReadFile(files[i])
		if err != nil {
			return err
		}
		complete := data[:bytes.LastIndexByte(data, '\n')+1]
		if i == len(files)-1 {
			offset = int64(len(complete))
		}
		lines = append(fileLines(files[i], complete), lines...)
	}
	for _, l := range lines[max(0, len(lines)-opts.Lines):] {
		if err := printLine(p, l.raw, l.pos); err != nil {
			return err
		}
	}
	if !opts.Follow {
		return p.result()
	}
	f := &follower{path: files[len(files)-1], off: offset, poll: opts.Poll}
	if len(paths) == 1 {
		if st, err := os.Stat(paths[0]); err == nil && st.IsDir() {
			f.dir = paths[0]
		}
	}
	if f.poll <= 0 {
		f.poll = 250 * time.Millisecond
	}
	return f.run(ctx, p)
}

// tailLine is a complete line of a segment with its position.
type tailLine struct {
	raw []byte
	pos Position
}

// fileLines splits the complete lines data of file, from its start.
func fileLines(file string, data []byte) []tailLine {
	var out []tailLine
	var off int64
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		out = append(out, tailLine{data[:i], Position{File: file, Line: len(out) + 1, Offset: off}})
		off += int64(i + 1)
		data = data[i+1:]
	}
	return out
}

func printLine(p *printer, line []byte, pos Position) error {
	rec := new(Record)
	if err := decodeRecord(line, rec); err != nil {
		return p.print(line, nil, pos, err)
	}
	return p.print(line, rec, pos, nil)
}

// follower prints the complete lines appended to a segment file and, in a log directory,
// moves on to the next segment once the writer has started it.
type follower struct {
	dir  string // "" when following a single file
	path string
	off  int64
	poll time.Duration
}

func (f *follower) run(ctx context.Context, p *printer) error {
	for {
		n, err := f.drain(p)
		if err != nil {
			return err
		}
		if n == 0 {
			next, err := f.nextSegment()
			if err != nil {
				return err
			}
			if next != "" {
				// Drain once more: the writer seals a segment before starting the next.
				if _, err := f.drain(p); err != nil {
					return err
				}
				f.path, f.off = next, 0
				continue
			}
			select {
			case <-ctx.Done():
				return p.result()
			case <-time.After(f.poll):
			}
		}
	}
}

// drain prints the complete lines after f.off and returns how many there were.
func (f *follower) drain(p *printer) (int, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.NewSectionReader(file, f.off, 1<<62))
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return n, nil // nothing, or a line still being written
		}
		if err := printLine(p, data[:i], Position{File: f.path, Offset: f.off}); err != nil {
			return n, err
		}
		f.off += int64(i + 1)
		data = data[i+1:]
		n++
	}
}

// nextSegment returns the path of the segment after the followed one, if it exists yet.
func (f *follower) nextSegment() (string, error) {
	if f.dir == "" {
		return "", nil
	}
	cur, ok := parseSegmentName(filepath.Base(f.path))
	if !ok {
		return "", nil
	}
	next := filepath.Join(f.dir, segmentName(cur+1))
	if _, err := os.Stat(next); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return "", err
	}
	return next, nil
}
