package sqlparse

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
)

// Options bound what one statement may cost. Zero values take the defaults.
type Options struct {
	// Workers is the number of parser processes, i.e. how many statements are parsed at
	// once (default 2). Cached statements never reach a worker.
	Workers int
	// MaxBytes refuses longer statements before they reach a parser (default 1 MiB).
	MaxBytes int
	// Timeout bounds one parse; a worker that takes longer is killed (default 2s).
	Timeout time.Duration
	// MemoryLimit is each worker's address-space limit in bytes (default 2 GiB).
	MemoryLimit uint64
	// UID and GID the workers run as when the engine runs as root (default 65534, nobody):
	// a parser bug exploited by crafted SQL then gains no privilege.
	UID, GID uint32
	// Logger receives worker crashes and restarts (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MemoryLimit == 0 {
		o.MemoryLimit = 2 << 30
	}
	if o.UID == 0 && o.GID == 0 {
		o.UID, o.GID = 65534, 65534
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Result is one parsed query string.
type Result struct {
	// Tree is the raw parse tree: one RawStmt per statement in the string.
	Tree *pg.ParseResult
	// Fingerprint is pg_query's fingerprint of the whole string: equal for statements that
	// differ only in constants, formatting and comments. Approvals bind to it.
	Fingerprint uint64
}

// SyntaxError is PostgreSQL's own verdict that the text is not valid SQL.
type SyntaxError struct {
	Message string
	// Cursor is the 1-based character position of the error, 0 if unknown.
	Cursor int
}

// Error reports the message with its position.
func (e *SyntaxError) Error() string {
	if e.Cursor > 0 {
		return fmt.Sprintf("syntax error at position %d: %s", e.Cursor, e.Message)
	}
	return "syntax error: " + e.Message
}

// Errors for statements that were not parsed. Callers deny them: PostgreSQL might read such
// a statement differently from the classifier, or the parser could not finish safely.
var (
	ErrTooLarge      = errors.New("statement exceeds the size the parser accepts")
	ErrNUL           = errors.New("statement contains a NUL byte")
	ErrInvalidUTF8   = errors.New("statement is not valid UTF-8")
	ErrParserFailed  = errors.New("parser failed")
	ErrUndecodable   = errors.New("parse tree could not be decoded (nested too deeply or malformed)")
	ErrParserStopped = errors.New("parser is closed")
)

// Parser hands statements to a pool of worker processes.
type Parser struct {
	opts  Options
	slots chan *worker // one entry per worker; nil means "start one on next use"
	done  chan struct{}
}

// New starts the pool and checks that a worker can parse, so a broken installation fails at
// start-up rather than by denying every statement.
func New(opts Options) (*Parser, error) {
	opts = opts.withDefaults()
	p := &Parser{opts: opts, slots: make(chan *worker, opts.Workers), done: make(chan struct{})}
	for range opts.Workers {
		p.slots <- nil
	}
	if _, err := p.Parse(context.Background(), "SELECT 1"); err != nil {
		p.Close()
		return nil, fmt.Errorf("sqlparse: starting a parser worker: %w", err)
	}
	return p, nil
}

// Parse parses sql in a worker. It returns a *SyntaxError for invalid SQL, and one of the
// Err values above when the text was refused or the worker failed; the caller must treat
// every error as "not understood".
func (p *Parser) Parse(ctx context.Context, sql string) (*Result, error) {
	if err := precheck(sql, p.opts.MaxBytes); err != nil {
		return nil, err
	}
	var w *worker
	select {
	case w = <-p.slots:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.done:
		return nil, ErrParserStopped
	}
	select {
	case <-p.done:
		// Close ran while we waited: release the slot so Close can reap it.
		p.slots <- w
		return nil, ErrParserStopped
	default:
	}
	res, w, err := p.parseWith(ctx, w, sql)
	p.slots <- w
	return res, err
}

func (p *Parser) parseWith(ctx context.Context, w *worker, sql string) (*Result, *worker, error) {
	if w == nil {
		var err error
		if w, err = startWorker(p.opts); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrParserFailed, err)
		}
	}
	deadline := time.Now().Add(p.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	status, payload, err := w.roundTrip(ctx, sql, deadline)
	if err != nil {
		cause := w.kill(err)
		p.opts.Logger.Warn("sqlparse: parser worker failed; it is replaced and the statement is refused",
			"pid", w.pid(), "error", cause, "statement_bytes", len(sql))
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrParserFailed, cause)
	}
	res, err := decode(status, payload)
	return res, w, err
}

func precheck(sql string, maxBytes int) error {
	if len(sql) > maxBytes {
		return fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, len(sql), maxBytes)
	}
	for i := range len(sql) {
		if sql[i] == 0 {
			return ErrNUL
		}
	}
	if !utf8.ValidString(sql) {
		return ErrInvalidUTF8
	}
	return nil
}

func decode(status byte, payload []byte) (*Result, error) {
	switch status {
	case statusOK:
		if len(payload) < 8 {
			return nil, fmt.Errorf("%w: short answer", ErrParserFailed)
		}
		tree := &pg.ParseResult{}
		// proto.Unmarshal stops at 10,000 levels of nesting: deeper trees are refused here
		// instead of exhausting the stack of whatever walks them next.
		if err := proto.Unmarshal(payload[8:], tree); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUndecodable, err)
		}
		return &Result{Tree: tree, Fingerprint: binary.BigEndian.Uint64(payload)}, nil
	case statusError:
		if len(payload) < 4 {
			return nil, fmt.Errorf("%w: short answer", ErrParserFailed)
		}
		return nil, &SyntaxError{Cursor: int(int32(binary.BigEndian.Uint32(payload))), Message: string(payload[4:])}
	default:
		return nil, fmt.Errorf("%w: unknown answer status %d", ErrParserFailed, status)
	}
}

// Close stops every worker. Parses in flight finish or fail; later calls fail.
func (p *Parser) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	for range p.opts.Workers {
		if w := <-p.slots; w != nil {
			w.stop()
		}
	}
}
