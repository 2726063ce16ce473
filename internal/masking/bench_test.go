package masking

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/testenv"
)

const benchSchema = testenv.WideTable + "ANALYZE wide;\n"

const benchRules = `
rules:
  - name: ssn
    columns: ["public.wide.ssn"]
    strategy: partial
    keep_last: 4
    clear: [cleared]
  - name: email
    columns: ["public.wide.email"]
    strategy: email
    clear: [cleared]
`

// BenchmarkMaskedResult relays a 1,000,000-row, 10-column result from a real PostgreSQL
// over loopback, the way the proxy relays (raw frames; RowDescription always decoded;
// DataRows decoded only when the session Wants them), in four ways measured side by side in
// alternating rounds:
//
//	direct:   the client reads the frames; no relay
//	off:      relayed with masking off (no rules)
//	unmasked: relayed through a masking session whose identity is cleared for both masked
//	          columns: the session inspects the result and lets rows pass raw
//	masked:   relayed through a masking session that masks 2 of the 10 columns
//
// It reports ns/row of each and the ratios masked/unmasked, unmasked/off, off/direct
// (medians over rounds).
func BenchmarkMaskedResult(b *testing.B) {
	f := newFixture(b, benchSchema, benchRules)
	off, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	conns := map[string]*benchConn{}
	for _, v := range []struct {
		name   string
		e      *Engine
		groups []string
	}{{"direct", nil, nil}, {"off", off, nil}, {"unmasked", f.engine, []string{"cleared"}}, {"masked", f.engine, nil}} {
		conns[v.name] = f.benchConn(b, v.e, v.groups)
	}
	const sql = "SELECT * FROM wide"
	// Warm up: plans, catalog, buffers; and check the masked variant really masks.
	for name, c := range conns {
		rows, masked := c.run(b, sql)
		if rows != 1000000 {
			b.Fatalf("%s: %d rows", name, rows)
		}
		if (name == "masked") != (masked > 0) {
			b.Fatalf("%s: %d rows rewritten", name, masked)
		}
	}
	order := []string{"direct", "off", "unmasked", "masked"}
	times := map[string][]time.Duration{}
	rounds := max(b.N, 5)
	b.ResetTimer()
	for range rounds {
		for _, name := range order {
			start := time.Now()
			conns[name].run(b, sql)
			times[name] = append(times[name], time.Since(start))
		}
	}
	b.StopTimer()
	median := func(ds []time.Duration) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[len(s)/2])
	}
	ratio := func(x, y string) float64 {
		rs := make([]float64, rounds)
		for i := range rs {
			rs[i] = float64(times[x][i]) / float64(times[y][i])
		}
		slices.Sort(rs)
		return rs[len(rs)/2]
	}
	for _, name := range order {
		b.ReportMetric(median(times[name])/1e6, "ns/row-"+name)
	}
	b.ReportMetric(ratio("masked", "unmasked"), "masked/unmasked")
	b.ReportMetric(ratio("unmasked", "off"), "unmasked/off")
	b.ReportMetric(ratio("off", "direct"), "off/direct")
}

// benchConn is a connection to the benchmark database and the relay's state for it.
type benchConn struct {
	conn net.Conn
	in   *bufio.Reader
	out  *bufio.Writer
	enc  []byte   // reused encoding buffer, as the proxy's writer is
	sess *Session // nil: read directly, no relay
	ctx  context.Context
}

func (f *fixture) benchConn(b *testing.B, e *Engine, groups []string) *benchConn {
	pc, err := pgconn.Connect(context.Background(), f.pg.ConnString("postgres", "postgres"))
	if err != nil {
		b.Fatal(err)
	}
	h, err := pc.Hijack()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Conn.Close() })
	c := &benchConn{conn: h.Conn, in: bufio.NewReaderSize(h.Conn, 64<<10), out: bufio.NewWriterSize(io.Discard, 64<<10), ctx: context.Background()}
	if e != nil {
		c.sess = e.NewSession(f.cat, groups)
	}
	return c
}

// run sends a simple Query and relays its answer; it returns the number of DataRows and
// how many of them the session rewrote.
func (c *benchConn) run(b *testing.B, sql string) (rows, masked int) {
	q := &pgproto3.Query{String: sql}
	if c.sess != nil && !c.sess.Off() {
		v := c.sess.Check(c.ctx, q)
		if v.Deny {
			b.Fatal(v.Reason)
		}
		c.sess.Sent(v, false)
	}
	buf, _ := q.Encode(nil)
	if _, err := c.conn.Write(buf); err != nil {
		b.Fatal(err)
	}
	var hdr [5]byte
	var body []byte
	var row pgproto3.DataRow
	for {
		if _, err := io.ReadFull(c.in, hdr[:]); err != nil {
			b.Fatal(err)
		}
		typ, n := hdr[0], int(binary.BigEndian.Uint32(hdr[1:]))-4
		body = slices.Grow(body[:0], n)[:n]
		if _, err := io.ReadFull(c.in, body); err != nil {
			b.Fatal(err)
		}
		if typ == 'D' {
			rows++
		}
		if c.sess == nil {
			if typ == 'Z' {
				return rows, masked
			}
			continue
		}
		out, err := c.relay(typ, body, &row)
		if err != nil {
			b.Fatal(err)
		}
		if out != nil {
			masked++
			if c.enc, err = out.Encode(c.enc[:0]); err != nil {
				b.Fatal(err)
			}
			c.out.Write(c.enc)
		} else {
			c.out.Write(hdr[:])
			c.out.Write(body)
		}
		if typ == 'Z' {
			c.out.Flush()
			return rows, masked
		}
	}
}

// relay is the proxy's per-message work: DataRows decoded only if the session wants them,
// result boundaries always shown to it.
func (c *benchConn) relay(typ byte, body []byte, row *pgproto3.DataRow) (pgproto3.BackendMessage, error) {
	if c.sess.Off() {
		return nil, nil
	}
	var msg pgproto3.BackendMessage
	switch typ {
	case 'D':
		if !c.sess.Wants('D') {
			return nil, nil
		}
		if err := row.Decode(body); err != nil {
			return nil, err
		}
		msg = row
	case 'T':
		msg = &pgproto3.RowDescription{}
	case 'C':
		msg = &pgproto3.CommandComplete{}
	case 'Z':
		msg = &pgproto3.ReadyForQuery{}
	default:
		return nil, fmt.Errorf("unexpected message %q", typ)
	}
	if typ != 'D' {
		if err := msg.Decode(body); err != nil {
			return nil, err
		}
	}
	return c.sess.ServerMessage(msg)
}

// BenchmarkMaskRow isolates the relay's CPU work per DataRow of the same 10-column result
// (a real row and RowDescription from PostgreSQL), side by side in alternating rounds:
// forwarding the raw frame, asking a session that masks nothing (Wants is false, the
// frame is forwarded raw), and decoding, masking 2 columns and re-encoding. It reports
// ns/row of each and the ratios to forwarding raw.
func BenchmarkMaskRow(b *testing.B) {
	f := newFixture(b, `CREATE TABLE wide (id int, a int, b int, c text, d text, e numeric, f date, g text, ssn text, email text);
		INSERT INTO wide VALUES (1, 2, 3, 'text value 1', md5('1'), 0.33, '2024-01-02', 'constant', '111-01-0001', 'user1@example.com');`, benchRules)
	w := f.open(b)
	r := w.query("SELECT * FROM wide")
	if len(r.rows) != 1 {
		b.Fatal(r)
	}
	session := func(groups ...string) *Session {
		s := f.engine.NewSession(f.cat, groups)
		v := s.Check(b.Context(), &pgproto3.Query{String: "SELECT * FROM wide"})
		s.Sent(v, false)
		if _, err := s.ServerMessage(&pgproto3.RowDescription{Fields: r.fields[0]}); err != nil {
			b.Fatal(err)
		}
		return s
	}
	masked, unmasked := session(), session("cleared")
	frame, _ := (&pgproto3.DataRow{Values: r.rows[0]}).Encode(nil)
	body := frame[5:]
	var row pgproto3.DataRow
	out := make([]byte, 0, 4096)
	relay := map[string]func(){
		"raw": func() { out = append(out[:0], frame...) },
		"unmasked": func() {
			if unmasked.Wants('D') {
				b.Fatal("a session masking nothing wants rows")
			}
			out = append(out[:0], frame...)
		},
		"masked": func() {
			if !masked.Wants('D') {
				b.Fatal("not wanted")
			}
			if err := row.Decode(body); err != nil {
				b.Fatal(err)
			}
			m, err := masked.ServerMessage(&row)
			if err != nil || m == nil {
				b.Fatal("not masked", err)
			}
			out, _ = m.Encode(out[:0])
		},
	}
	const rounds, perRound = 9, 200000
	times := map[string][]float64{}
	b.ResetTimer()
	for range rounds {
		for _, name := range []string{"raw", "unmasked", "masked"} {
			start := time.Now()
			for range perRound {
				relay[name]()
			}
			times[name] = append(times[name], float64(time.Since(start).Nanoseconds())/perRound)
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	for _, name := range []string{"raw", "unmasked", "masked"} {
		b.ReportMetric(med(times[name]), "ns/row-"+name)
	}
	b.ReportMetric(med(times["unmasked"])/med(times["raw"]), "unmasked/raw")
	b.ReportMetric(med(times["masked"])/med(times["raw"]), "masked/raw")
}
