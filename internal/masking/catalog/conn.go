package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Options configure a catalog connection. Zero values take the defaults.
type Options struct {
	// TTL bounds how long an answer is trusted when no DDL was seen through sluice (default
	// one minute): changes made outside sluice (a view redefined by a DBA) are picked up
	// at the latest then.
	TTL time.Duration
	// QueryTimeout bounds each catalog query (default 5 seconds).
	QueryTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Conn is a Catalog over a side connection to the target. It connects lazily, reconnects
// after a failure, and runs one catalog query at a time.
type Conn struct {
	connect func(context.Context) (*pgconn.PgConn, error)
	opts    Options

	qmu  sync.Mutex // one query at a time on conn
	conn *pgconn.PgConn

	gen   atomic.Uint64
	cache cache
}

var _ Catalog = (*Conn)(nil)

// New returns a Catalog that opens its connections with connect: the agent's credentials
// for the same target the sessions use.
func New(connect func(context.Context) (*pgconn.PgConn, error), opts Options) *Conn {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Conn{connect: connect, opts: opts}
	c.cache.reset(time.Now())
	return c
}

// Close closes the side connection.
func (c *Conn) Close() error {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close(context.Background())
	c.conn = nil
	return err
}

// Invalidate forgets every cached answer.
func (c *Conn) Invalidate() {
	c.gen.Add(1)
	c.cache.reset(time.Now())
}

// Generation changes on every Invalidate and when the cache expires.
func (c *Conn) Generation() uint64 {
	if c.cache.expired(time.Now(), c.opts.TTL) {
		c.Invalidate()
	}
	return c.gen.Load()
}

// session settings of the side connection: an empty search_path, so that pg_get_viewdef
// qualifies every name and no name the catalog queries use can be captured; read-only; and
// a statement timeout as a backstop to the client-side deadline.
const setup = `SELECT pg_catalog.set_config('search_path', '', false),
	pg_catalog.set_config('default_transaction_read_only', 'on', false),
	pg_catalog.set_config('statement_timeout', '10s', false),
	pg_catalog.set_config('application_name', 'sluice masking catalog', false)`

// query runs one parameterized catalog query and returns its rows in text format.
func (c *Conn) query(ctx context.Context, sql string, args ...string) ([][][]byte, error) {
	return c.exec(ctx, sql, nil, args)
}

// exec runs one parameterized query with the given result formats.
func (c *Conn) exec(ctx context.Context, sql string, formats []int16, args []string) ([][][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.QueryTimeout)
	defer cancel()
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.conn == nil || c.conn.IsClosed() {
		conn, err := c.connect(ctx)
		if err != nil {
			return nil, fmt.Errorf("catalog: connecting: %w", err)
		}
		if err := conn.Exec(ctx, setup).Close(); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("catalog: setting up the connection: %w", err)
		}
		c.conn = conn
	}
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	res := c.conn.ExecParams(ctx, sql, params, nil, nil, formats).Read()
	if res.Err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(res.Err, &pgErr) {
			// The connection may be unusable; start afresh next time.
			c.conn.Close(context.Background())
			c.conn = nil
		}
		return nil, fmt.Errorf("catalog: %w", res.Err)
	}
	return res.Rows, nil
}
