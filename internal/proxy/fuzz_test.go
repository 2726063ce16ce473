package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// fuzzMaxMessage is the message size cap in the fuzz targets, small so that the fuzzer
// reaches the oversize paths.
const fuzzMaxMessage = 4096

// FuzzClientMessages feeds arbitrary bytes to the client-message path of a session (after
// the startup), with and without an Inspector. Whatever the input, the relay must end
// with a protocol violation, the end of input or Terminate, and what it sent upstream
// must be well-framed messages of the types a client may send.
func FuzzClientMessages(f *testing.F) {
	for _, seed := range clientSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		for _, insp := range []SessionInspector{nil, &testSession{interest: allInterest}} {
			s, upstream := fuzzSession(wire, insp)
			err := s.relayClient()
			if !errors.Is(err, errMalformed) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errTerminated) {
				t.Fatalf("relay ended with %v", err)
			}
			_ = s.up.dst.Flush()
			// A message cut off by the end of input is streamed up to where it ends.
			checkFrames(t, upstream.Bytes(), errors.Is(err, io.ErrUnexpectedEOF))
		}
	})
}

// FuzzStartupPacket feeds arbitrary bytes to the startup packet reader and parser: they
// must return a message or an error, never panic or accept an inconsistent packet.
func FuzzStartupPacket(f *testing.F) {
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.StartupMessage{ProtocolVersion: 3 << 16, Parameters: map[string]string{"user": "app", "database": "db"}},
		&pgproto3.StartupMessage{ProtocolVersion: 3<<16 | 9, Parameters: map[string]string{"user": "u", "_pq_.x": "1"}},
		&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.SSLRequest{},
	} {
		b, err := m.Encode(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		code, body, err := readStartupPacket(bufio.NewReader(bytes.NewReader(wire)))
		if err != nil || code>>16 != 3 {
			return
		}
		msg, err := parseStartupMessage(code, body[4:])
		if err != nil {
			return
		}
		newer := uint16(code) > latestMinor
		if msg.minor > latestMinor || (newer && msg.negotiate == nil) ||
			(msg.negotiate != nil && msg.negotiate.NewestMinorProtocol != 3<<16|uint32(msg.minor)) {
			t.Fatalf("version %#x served as 3.%d with negotiation %+v", code, msg.minor, msg.negotiate)
		}
		for k := range msg.params {
			if strings.HasPrefix(k, "_pq_.") || strings.IndexByte(k, 0) >= 0 {
				t.Fatalf("parameter %q passed through", k)
			}
		}
	})
}

// fuzzSession is a session whose client bytes come from wire and whose upstream writes
// go to the returned buffer.
func fuzzSession(wire []byte, insp SessionInspector) (*session, *bytes.Buffer) {
	upstream := &bytes.Buffer{}
	s := &session{
		srv:     &Server{cfg: Config{MaxMessageSize: fuzzMaxMessage}},
		log:     slog.New(slog.DiscardHandler),
		up:      pipe{src: bufio.NewReader(bytes.NewReader(wire)), dst: bufio.NewWriter(upstream)},
		denials: newDenials(),
	}
	if insp != nil {
		s.insp, s.interest = insp, insp.Interest()
		inspectable := Messages(inspectableClient)
		for i := range s.interest.Client {
			s.interest.Client[i] &= inspectable[i]
		}
	}
	return s, upstream
}

// checkFrames fails the test unless b is a sequence of complete client messages of the
// types the relay may send upstream, each within the size limits; when truncated, the last
// message may be incomplete.
func checkFrames(t *testing.T, b []byte, truncated bool) {
	t.Helper()
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("truncated header %q sent upstream", b)
		}
		typ, n := b[0], int(binary.BigEndian.Uint32(b[1:5]))-4
		if !strings.ContainsRune("QPBEDCSHXdcf", rune(typ)) || n < 0 || n > fuzzMaxMessage || (len(b) < 5+n && !truncated) {
			t.Fatalf("bad message %q (body %d bytes of %d) sent upstream", typ, n, len(b)-5)
		}
		b = b[min(5+n, len(b)):]
	}
}

// clientSeeds are realistic client message sequences (and a few broken ones) to start
// fuzzing from; testdata/fuzz/FuzzClientMessages holds more.
func clientSeeds(f *testing.F) [][]byte {
	encode := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			var err error
			if b, err = m.Encode(b); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	return [][]byte{
		encode(&pgproto3.Query{String: "select 1"}, &pgproto3.Terminate{}),
		encode(&pgproto3.Parse{Name: "s", Query: "select $1", ParameterOIDs: []uint32{25}},
			&pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("x")}},
			&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: 10},
			&pgproto3.Close{ObjectType: 'S', Name: "s"}, &pgproto3.Flush{}, &pgproto3.Sync{}),
		encode(&pgproto3.Parse{Query: "select 'x'"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}),
		encode(&pgproto3.Query{String: "copy t from stdin"}, &pgproto3.CopyData{Data: []byte("1\n")},
			&pgproto3.CopyDone{}, &pgproto3.CopyFail{Message: "no"}),
		encode(&pgproto3.FunctionCall{Function: 1598}, &pgproto3.Query{String: "x"}),
		{'Q', 0, 0, 0, 3},
		{'S', 0, 0, 0, 5, 0},
		{'Q', 0, 0, 0x20, 0},
	}
}
