package proxy

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// rawClient speaks the wire protocol to the proxy byte by byte, to send what no real client
// sends and to see exactly what comes back.
type rawClient struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawClient{t: t, conn: conn, fe: pgproto3.NewFrontend(conn, conn)}
}

// write sends raw bytes.
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// send encodes and sends messages.
func (c *rawClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			c.t.Fatal(err)
		}
	}
	c.write(b)
}

func (c *rawClient) receive() pgproto3.BackendMessage {
	c.t.Helper()
	msg, err := c.fe.Receive()
	if err != nil {
		c.t.Fatalf("receive: %v", err)
	}
	return msg
}

// startup logs in with protocol 3.minor and returns what came before ReadyForQuery.
func (c *rawClient) startup(minor uint32, params map[string]string) []pgproto3.BackendMessage {
	c.t.Helper()
	if params == nil {
		params = map[string]string{"user": "app", "database": "postgres"}
	}
	c.send(&pgproto3.StartupMessage{ProtocolVersion: 3<<16 | minor, Parameters: params})
	return c.until('Z')
}

// until receives messages up to and including one of type typ, and returns them.
func (c *rawClient) until(typ byte) []pgproto3.BackendMessage {
	c.t.Helper()
	var msgs []pgproto3.BackendMessage
	for {
		m := c.receive()
		msgs = append(msgs, m)
		if e, ok := m.(*pgproto3.ErrorResponse); ok && e.Severity == "FATAL" {
			c.t.Fatalf("FATAL %s: %s", e.Code, e.Message)
		}
		if typeOf(m) == typ {
			return msgs
		}
	}
}

// expectFatal reads an ErrorResponse FATAL with code and then the end of the connection.
func (c *rawClient) expectFatal(code string) *pgproto3.ErrorResponse {
	c.t.Helper()
	e, ok := c.receive().(*pgproto3.ErrorResponse)
	if !ok || e.Severity != "FATAL" || e.Code != code {
		c.t.Fatalf("got %#v, want FATAL %s", e, code)
	}
	c.expectClosed()
	return e
}

// expectClosed checks that the proxy closed the connection without sending anything more.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	n, err := c.conn.Read(make([]byte, 1))
	if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)) {
		c.t.Fatalf("connection still open: read %d bytes, %v", n, err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// typeOf returns the type byte of a backend message.
func typeOf(m pgproto3.BackendMessage) byte {
	b, _ := m.Encode(nil)
	return b[0]
}

// TestMalformedInputClosesOnlyThatConnection sends broken messages on fresh sessions; each
// must end only its own connection with FATAL 08P01, while a bystander session continues.
func TestMalformedInputClosesOnlyThatConnection(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), func(c *Config) { c.MaxMessageSize = 1 << 20 })
	bystander := p.connect(t)
	cases := []struct {
		name string
		wire []byte
	}{
		{"length below 4", []byte{'Q', 0, 0, 0, 3}},
		{"negative length", []byte{'Q', 0xff, 0xff, 0xff, 0xff}},
		{"oversized query", []byte{'Q', 0, 0x20, 0, 0}},
		{"oversized sync", []byte{'S', 0, 0, 0, 5, 0}},
		{"oversized describe", []byte{'D', 0, 0, 0x30, 0}},
		{"unknown type", []byte{'?', 0, 0, 0, 4}},
		{"password message after startup", []byte{'p', 0, 0, 0, 5, 0}},
		{"startup message again", []byte{0, 0, 0, 8, 0, 3, 0, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := dialRaw(t, p.addr.String())
			rc.startup(0, nil)
			rc.write(c.wire)
			rc.expectFatal(CodeProtocolViolation)
		})
	}
	var n int
	if err := bystander.QueryRow(t.Context(), "select 1").Scan(&n); err != nil {
		t.Fatalf("bystander session broken: %v", err)
	}
	if got := countLines(p.logs.String(), "protocol violation by client"); got != len(cases) {
		t.Fatalf("%d protocol violations logged, want %d", got, len(cases))
	}
}

// TestMalformedStartup covers the startup packet: bad lengths, garbage after SSLRequest,
// an unsupported protocol, a replication connection, unknown names and targets.
func TestMalformedStartup(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), func(c *Config) {
		c.Targets[0].AllowedUsers = []string{"app"}
		c.Targets[0].AllowedDatabases = []string{"postgres"}
	})
	fatal := func(name, code string, wire []byte) {
		t.Run(name, func(t *testing.T) {
			rc := dialRaw(t, p.addr.String())
			rc.write(wire)
			rc.expectFatal(code)
		})
	}
	startup := func(version uint32, params map[string]string) []byte {
		b, err := (&pgproto3.StartupMessage{ProtocolVersion: version, Parameters: params}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sslRequest, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	fatal("length too small", CodeProtocolViolation, []byte{0, 0, 0, 7, 0, 0, 0})
	fatal("length too large", CodeProtocolViolation, []byte{0, 1, 0, 0})
	fatal("garbage after SSLRequest", CodeProtocolViolation, append(sslRequest, 'Q', 0, 0, 0, 4))
	fatal("unterminated parameters", CodeProtocolViolation, []byte{0, 0, 0, 13, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0})
	fatal("protocol 2", CodeFeatureNotSupported, startup(2<<16, map[string]string{"user": "app"}))
	fatal("no user", CodeInvalidAuthorization, startup(3<<16, map[string]string{"database": "postgres"}))
	fatal("replication", CodeFeatureNotSupported, startup(3<<16, map[string]string{"user": "app", "replication": "database"}))
	fatal("user not allowed", CodeInvalidAuthorization, startup(3<<16, map[string]string{"user": "mallory"}))
	fatal("database not allowed", CodeInvalidAuthorization, startup(3<<16, map[string]string{"user": "app", "database": "template1"}))
	if p.Sessions() != 0 {
		t.Fatalf("%d sessions left", p.Sessions())
	}
}

// TestProtocolNegotiation checks protocol 3.2 (long cancel keys), a newer minor version and
// unknown protocol options (NegotiateProtocolVersion), and a declined GSSENCRequest.
func TestProtocolNegotiation(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	keyOf := func(msgs []pgproto3.BackendMessage) *pgproto3.BackendKeyData {
		for _, m := range msgs {
			if k, ok := m.(*pgproto3.BackendKeyData); ok {
				return k
			}
		}
		t.Fatalf("no BackendKeyData in %v", msgs)
		return nil
	}

	rc := dialRaw(t, p.addr.String())
	msgs := rc.startup(0, nil)
	if k := keyOf(msgs); len(k.SecretKey) != 4 {
		t.Errorf("3.0: secret key of %d bytes, want 4", len(k.SecretKey))
	}

	rc = dialRaw(t, p.addr.String())
	msgs = rc.startup(2, nil)
	if _, ok := msgs[0].(*pgproto3.AuthenticationOk); !ok {
		t.Errorf("3.2: first message %T, want AuthenticationOk", msgs[0])
	}
	if k := keyOf(msgs); len(k.SecretKey) != 32 {
		t.Errorf("3.2: secret key of %d bytes, want 32", len(k.SecretKey))
	}

	rc = dialRaw(t, p.addr.String())
	msgs = rc.startup(9999, map[string]string{"user": "app", "database": "postgres", "_pq_.future_option": "on", "_pq_.other": "x"})
	npv, ok := msgs[0].(*pgproto3.NegotiateProtocolVersion)
	if !ok || npv.NewestMinorProtocol&0xffff != 2 || len(npv.UnrecognizedOptions) != 2 || npv.UnrecognizedOptions[0] != "_pq_.future_option" {
		t.Fatalf("3.9999: first message %#v, want NegotiateProtocolVersion 3.2 naming both options", msgs[0])
	}
	rc.send(&pgproto3.Query{String: "select 1"})
	rc.until('Z')

	rc = dialRaw(t, p.addr.String())
	gss, _ := (&pgproto3.GSSEncRequest{}).Encode(nil)
	rc.write(gss)
	if b := make([]byte, 1); func() bool { _, err := io.ReadFull(rc.conn, b); return err != nil || b[0] != 'N' }() {
		t.Fatalf("GSSENCRequest not declined with N")
	}
	rc.startup(0, nil)
}

// TestFunctionCallRefused sends the fastpath FunctionCall: it is answered with an error
// and the session continues.
func TestFunctionCallRefused(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	rc := dialRaw(t, p.addr.String())
	rc.startup(0, nil)
	rc.send(&pgproto3.FunctionCall{Function: 1598 /* random() */, ResultFormatCode: 0})
	msgs := rc.until('Z')
	e, ok := msgs[0].(*pgproto3.ErrorResponse)
	if !ok || e.Code != CodeFeatureNotSupported || e.Severity != "ERROR" || len(msgs) != 2 {
		t.Fatalf("FunctionCall answered with %#v", msgs)
	}
	rc.send(&pgproto3.Query{String: "select 1"})
	if msgs := rc.until('Z'); len(msgs) != 4 {
		t.Fatalf("select 1 after FunctionCall: %#v", msgs)
	}
}

// TestOriginAndTarget serves two listeners, one whose connections have an origin (on
// IPv6 loopback) and one without: the latter is closed at once; an origin whose
// destination matches no target is refused with 08004.
func TestOriginAndTarget(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	lookup := p.cfg.Origins.(*listenerOrigins)
	serve := func(network, address string) net.Listener {
		ln, err := net.Listen(network, address)
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.Serve(ln) }()
		return ln
	}
	v6 := serve("tcp6", "[::1]:0")
	lookup.set(v6.Addr().(*net.TCPAddr).AddrPort(), lookup.get(p.addr))
	connectTo(t, "postgres://app@"+v6.Addr().String()+"/postgres?sslmode=disable")

	noOrigin := serve("tcp4", "127.0.0.1:0")
	rc := dialRaw(t, noOrigin.Addr().String())
	rc.expectClosed()
	if countLines(p.logs.String(), "connection refused: no origin") != 1 {
		t.Fatalf("refusal not logged:\n%s", p.logs.String())
	}

	elsewhere := serve("tcp4", "127.0.0.1:0")
	org := lookup.get(p.addr)
	org.Dest = netip.MustParseAddrPort("10.0.0.6:5432") // a database no target claims
	lookup.set(elsewhere.Addr().(*net.TCPAddr).AddrPort(), org)
	rc = dialRaw(t, elsewhere.Addr().String())
	rc.send(&pgproto3.StartupMessage{ProtocolVersion: 3 << 16, Parameters: map[string]string{"user": "app"}})
	rc.expectFatal(CodeConnectionRejected)
}

// countLines counts the lines of s that contain substr.
func countLines(s, substr string) int {
	n := 0
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}
