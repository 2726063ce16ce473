package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Codes in the version field of the startup packets that are requests, not a StartupMessage.
const (
	codeCancelRequest = 1234<<16 | 5678
	codeSSLRequest    = 1234<<16 | 5679
	codeGSSENCRequest = 1234<<16 | 5680
)

const (
	// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
	maxStartupPacket = 10000
	// latestMinor is the newest minor version of protocol 3 the proxy speaks with clients.
	// 3.2 differs from 3.0 only in the length of cancel keys, which the proxy issues itself,
	// so it does not depend on what the upstream server speaks.
	latestMinor = 2
	// tlsRecordHandshake is the first byte of a TLS ClientHello, which a client using
	// sslnegotiation=direct sends instead of an SSLRequest.
	tlsRecordHandshake = 0x16
)

// clientConn is the client's connection during the startup, before a session owns it.
type clientConn struct {
	net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	tls bool
}

func newClientConn(c net.Conn) *clientConn {
	rw := socketIO(c)
	return &clientConn{Conn: c, r: bufio.NewReaderSize(rw, pipeBufferSize), w: bufio.NewWriterSize(rw, pipeBufferSize)}
}

// startupMessage is a client's StartupMessage as the proxy understood it.
type startupMessage struct {
	// minor is the protocol 3 minor version in use, after negotiation.
	minor uint16
	// params are the startup parameters, without protocol options (_pq_.*).
	params map[string]string
	// negotiate is what to answer with NegotiateProtocolVersion, or nil when the client's
	// request is served as it is.
	negotiate *pgproto3.NegotiateProtocolVersion
}

// readStartup runs the client side of the startup up to the StartupMessage: TLS (by
// SSLRequest or direct), declining GSS encryption. It returns the StartupMessage or, for
// a connection that only carries a cancel request, that request.
func readStartup(cc *clientConn, tlsConfig *tls.Config) (*startupMessage, *pgproto3.CancelRequest, error) {
	for {
		if !cc.tls {
			if first, err := cc.r.Peek(1); err == nil && first[0] == tlsRecordHandshake {
				if err := cc.startTLS(tlsConfig, true); err != nil {
					return nil, nil, err
				}
				continue
			}
		}
		code, body, err := readStartupPacket(cc.r)
		if err != nil {
			return nil, nil, err
		}
		switch code {
		case codeSSLRequest:
			if cc.tls {
				return nil, nil, protocolViolation("SSLRequest received on an encrypted connection")
			}
			if cc.r.Buffered() > 0 {
				// Bytes sent before the handshake would be taken as sent over TLS
				// (CVE-2021-23214): an injection attempt or a broken client.
				return nil, nil, protocolViolation("received unencrypted data after SSL request")
			}
			if err := cc.reply('S'); err != nil {
				return nil, nil, err
			}
			if err := cc.startTLS(tlsConfig, false); err != nil {
				return nil, nil, err
			}
		case codeGSSENCRequest:
			if err := cc.reply('N'); err != nil {
				return nil, nil, err
			}
		case codeCancelRequest:
			req := &pgproto3.CancelRequest{}
			if err := req.Decode(body); err != nil {
				return nil, nil, protocolViolation("invalid cancel request: " + err.Error())
			}
			return nil, req, nil
		default:
			msg, err := parseStartupMessage(code, body[4:])
			return msg, nil, err
		}
	}
}

// readStartupPacket reads one length-prefixed startup packet and returns its code and its
// body (which starts with the code).
func readStartupPacket(r *bufio.Reader) (uint32, []byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int(int32(binary.BigEndian.Uint32(h[:]))) - 4
	if n < 4 || n > maxStartupPacket {
		return 0, nil, protocolViolation(fmt.Sprintf("invalid length of startup packet: %d", n+4))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, unexpectedEOF(err)
	}
	return binary.BigEndian.Uint32(body), body, nil
}

// parseStartupMessage parses the parameters of a StartupMessage of the given version and
// works out the protocol negotiation, as PostgreSQL does: any 3.x is accepted, served as
// at most 3.2, and a newer minor or an unknown protocol option (_pq_.*) is answered with
// NegotiateProtocolVersion.
func parseStartupMessage(version uint32, params []byte) (*startupMessage, error) {
	major, minor := version>>16, uint16(version)
	if major != 3 {
		return nil, &Error{Code: CodeFeatureNotSupported, Message: fmt.Sprintf(
			"unsupported frontend protocol %d.%d: server supports 3.0 to 3.%d", major, minor, latestMinor)}
	}
	msg := &startupMessage{minor: min(minor, latestMinor), params: make(map[string]string)}
	var options []string
	for {
		name, rest, ok := bytes.Cut(params, []byte{0})
		if !ok {
			return nil, protocolViolation("invalid startup packet layout: expected terminator as last byte")
		}
		if len(name) == 0 {
			if len(rest) != 0 {
				return nil, protocolViolation("invalid startup packet layout: data after the terminator")
			}
			break
		}
		value, rest, ok := bytes.Cut(rest, []byte{0})
		if !ok {
			return nil, protocolViolation("invalid startup packet layout: expected terminator as last byte")
		}
		if key := string(name); strings.HasPrefix(key, "_pq_.") {
			options = append(options, key)
		} else {
			msg.params[key] = string(value)
		}
		params = rest
	}
	if minor > latestMinor || len(options) > 0 {
		slices.Sort(options)
		msg.negotiate = &pgproto3.NegotiateProtocolVersion{
			NewestMinorProtocol: 3<<16 | uint32(msg.minor), // the full version, as PostgreSQL sends it
			UnrecognizedOptions: options,
		}
	}
	return msg, nil
}

// reply writes a one-byte answer to an SSLRequest or GSSENCRequest.
func (cc *clientConn) reply(b byte) error {
	if err := cc.w.WriteByte(b); err != nil {
		return err
	}
	return cc.w.Flush()
}

// startTLS runs the TLS handshake and puts the encrypted connection in place. A direct
// TLS connection must negotiate the postgresql ALPN protocol, as PostgreSQL requires, so
// that a TLS connection meant for another protocol is not taken for one of ours.
func (cc *clientConn) startTLS(config *tls.Config, direct bool) error {
	var under net.Conn = cc.Conn
	if cc.r.Buffered() > 0 { // a peeked ClientHello: the handshake must read it first
		under = &bufferedConn{Conn: cc.Conn, r: cc.r}
		cc.r = bufio.NewReaderSize(nil, pipeBufferSize)
	}
	tc := tls.Server(under, config)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	if direct && tc.ConnectionState().NegotiatedProtocol != alpnPostgreSQL {
		return fmt.Errorf("direct TLS connection without the %q ALPN protocol", alpnPostgreSQL)
	}
	cc.Conn, cc.tls = tc, true
	cc.r.Reset(tc)
	cc.w.Reset(tc)
	return nil
}

// bufferedConn reads through a buffered reader that already holds bytes of the
// connection, so a direct TLS ClientHello that was peeked at is not lost.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// protocolViolation is a client error that ends the connection with SQLSTATE 08P01.
func protocolViolation(msg string) *Error {
	return &Error{Code: CodeProtocolViolation, Message: msg}
}
