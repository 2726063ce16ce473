package masking

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/testenv"
)

// fixture is a real PostgreSQL with seeded sensitive data, the catalog connection to it,
// a parser, and an engine with the test rules.
type fixture struct {
	pg     *pglocal.Server
	cat    *catalog.Conn
	engine *Engine
	parser *sqlparse.Parser
}

func connect(pg *pglocal.Server) func(context.Context) (*pgconn.PgConn, error) {
	return func(ctx context.Context) (*pgconn.PgConn, error) {
		return pgconn.Connect(ctx, pg.ConnString("postgres", "postgres"))
	}
}

func newFixture(t testing.TB, schema, rules string) *fixture {
	t.Helper()
	pg := testenv.Postgres(t, pglocal.Options{})
	ctx := context.Background()
	if err := pg.Exec(ctx, schema); err != nil {
		t.Fatal(err)
	}
	parser, err := sqlparse.New(sqlparse.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(parser.Close)
	rs, err := Parse("test.yaml", []byte(rules))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := New(Options{Rules: rs, Parser: parser, HashKey: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(connect(pg), catalog.Options{})
	t.Cleanup(func() { cat.Close() })
	return &fixture{pg: pg, cat: cat, engine: engine, parser: parser}
}

// wire is one client connection driven message by message, as the proxy drives it: every
// client message is checked and recorded (a refused one replaced by the proxy's stand-in),
// every server message passes through the session, and what the client would receive is
// kept as bytes.
type wire struct {
	t    testing.TB
	sess *Session
	conn net.Conn
	fe   *pgproto3.Frontend
	// received is every byte the client would have received.
	received []byte
	// types decodes values the way a client would, to prove masked values stay valid.
	types *pgtype.Map
}

func (f *fixture) open(t testing.TB, groups ...string) *wire {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pc, err := pgconn.Connect(ctx, f.pg.ConnString("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Conn.Close() })
	return &wire{t: t, sess: f.engine.NewSession(f.cat, groups), conn: h.Conn, fe: h.Frontend, types: pgtype.NewMap()}
}

// result is what one request brought back, as the client saw it.
type result struct {
	denied  *Verdict // the masking verdict, if it refused a message
	fields  [][]pgproto3.FieldDescription
	rows    [][][]byte // decoded DataRow values of every result, in order
	copy    [][]byte
	errors  []pgproto3.ErrorResponse
	notices []pgproto3.NoticeResponse
	notes   []pgproto3.NotificationResponse
	risks   []string
	masked  []string
	decoded int // DataRow and CopyData messages Wants asked to decode
}

// send checks and sends client messages (ending with Sync or a Query), then receives
// until ReadyForQuery.
func (w *wire) send(msgs ...pgproto3.FrontendMessage) *result {
	w.t.Helper()
	res := &result{}
	swallowing := false
	for _, m := range msgs {
		if swallowing {
			if _, ok := m.(*pgproto3.Sync); !ok {
				continue
			}
			swallowing = false
		}
		v := w.sess.Check(context.Background(), m)
		res.risks = append(res.risks, v.Risks...)
		res.masked = append(res.masked, v.Masked...)
		if v.Deny {
			res.denied = &v
			w.sess.Sent(v, true)
			// The proxy's stand-in: a statement that fails with 34000 in its place.
			if _, ok := m.(*pgproto3.Query); ok {
				w.fe.Send(&pgproto3.Query{String: `FETCH "sluice_deny_test"`})
			} else {
				w.fe.Send(&pgproto3.Execute{Portal: "sluice_deny_test"})
				swallowing = true
			}
			continue
		}
		w.sess.Sent(v, false)
		w.fe.Send(m)
	}
	if err := w.fe.Flush(); err != nil {
		w.t.Fatal(err)
	}
	var current []pgproto3.FieldDescription
	for {
		w.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		msg, err := w.fe.Receive()
		if err != nil {
			w.t.Fatalf("receiving: %v", err)
		}
		wanted := true
		switch msg.(type) {
		case *pgproto3.DataRow:
			wanted = w.sess.Wants('D')
		case *pgproto3.CopyData:
			wanted = w.sess.Wants('d')
		default:
			res.decoded-- // counted below for rows only
		}
		if wanted {
			res.decoded++
		}
		out, err := w.sess.ServerMessage(msg)
		if err != nil {
			w.t.Fatalf("masking refused a server message %T: %v", msg, err)
		}
		if !wanted && out != nil {
			w.t.Errorf("Wants said a %T passes unchanged, but ServerMessage rewrote it", msg)
		}
		if out == nil {
			out = msg
		}
		buf, err := out.Encode(nil)
		if err != nil {
			w.t.Fatal(err)
		}
		w.received = append(w.received, buf...)
		switch m := out.(type) {
		case *pgproto3.RowDescription:
			current = copyFields(m.Fields)
			res.fields = append(res.fields, current)
		case *pgproto3.DataRow:
			row := make([][]byte, len(m.Values))
			for i, v := range m.Values {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			res.rows = append(res.rows, row)
			w.checkValid(current, row)
		case *pgproto3.CopyData:
			res.copy = append(res.copy, append([]byte{}, m.Data...))
		case *pgproto3.ErrorResponse:
			res.errors = append(res.errors, *m)
		case *pgproto3.NoticeResponse:
			res.notices = append(res.notices, *m)
		case *pgproto3.NotificationResponse:
			res.notes = append(res.notes, *m)
		case *pgproto3.ReadyForQuery:
			return res
		}
	}
}

// describeWith remembers the fields a Describe returned for the next Execute's rows
// (pgx's flow: Parse+Describe, then Bind+Execute).
func (w *wire) checkValid(fields []pgproto3.FieldDescription, row [][]byte) {
	w.t.Helper()
	if fields == nil {
		return
	}
	for i, v := range row {
		if v == nil || i >= len(fields) {
			continue
		}
		f := fields[i]
		if _, ok := w.types.TypeForOID(f.DataTypeOID); !ok {
			continue
		}
		var dst any
		if err := w.types.Scan(f.DataTypeOID, f.Format, v, &dst); err != nil {
			w.t.Errorf("column %s (type %d, format %d): masked value %q does not decode: %v", f.Name, f.DataTypeOID, f.Format, v, err)
		}
	}
}

// query runs a simple Query.
func (w *wire) query(sql string) *result {
	w.t.Helper()
	return w.send(&pgproto3.Query{String: sql})
}

// extended runs sql through Parse/Describe/Bind/Execute/Sync with the given result format.
func (w *wire) extended(sql string, format int16) *result {
	w.t.Helper()
	prep := w.send(&pgproto3.Parse{Query: sql}, &pgproto3.Describe{ObjectType: 'S'}, &pgproto3.Sync{})
	if prep.denied != nil || len(prep.errors) > 0 {
		return prep
	}
	res := w.send(&pgproto3.Bind{ResultFormatCodes: []int16{format}}, &pgproto3.Execute{}, &pgproto3.Sync{})
	res.fields = prep.fields
	if len(prep.fields) > 0 {
		for _, row := range res.rows {
			fields := make([]pgproto3.FieldDescription, len(prep.fields[0]))
			copy(fields, prep.fields[0])
			for i := range fields {
				fields[i].Format = format
			}
			w.checkValid(fields, row)
		}
	}
	return res
}

func (r *result) String() string {
	var b strings.Builder
	if r.denied != nil {
		fmt.Fprintf(&b, "denied by %s: %s\n", r.denied.Rule, r.denied.Reason)
	}
	for _, e := range r.errors {
		fmt.Fprintf(&b, "error %s: %s (%s)\n", e.Code, e.Message, e.Detail)
	}
	for _, row := range r.rows {
		var cells []string
		for _, v := range row {
			if v == nil {
				cells = append(cells, "NULL")
			} else {
				cells = append(cells, fmt.Sprintf("%q", v))
			}
		}
		fmt.Fprintf(&b, "row %s\n", strings.Join(cells, " | "))
	}
	for _, c := range r.copy {
		fmt.Fprintf(&b, "copy %q\n", c)
	}
	return b.String()
}

var errNoRows = errors.New("no rows")

// cell returns row i, column j as text.
func (r *result) cell(i, j int) (string, error) {
	if i >= len(r.rows) || j >= len(r.rows[i]) {
		return "", errNoRows
	}
	return string(r.rows[i][j]), nil
}
