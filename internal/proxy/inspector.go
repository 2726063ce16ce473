package proxy

import (
	"context"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/origin"
)

// Inspector is the seam through which policy, masking and audit see sessions. The proxy
// calls OpenSession once per accepted client, after the startup packet passed the target's
// checks and before the upstream connection is opened.
type Inspector interface {
	// OpenSession returns the inspector for one session, or an error that refuses the
	// session: the client receives a FATAL ErrorResponse (the *Error's SQLSTATE when err
	// is one, 28000 otherwise).
	OpenSession(ctx context.Context, info *SessionInfo) (SessionInspector, error)
}

// SessionInspector inspects one session. ClientMessage and ServerMessage are called from
// different goroutines (one per direction) and may run concurrently; each is called
// sequentially, in wire order. The messages they receive alias the proxy's read buffers
// and are valid only during the call: copy what you keep.
type SessionInspector interface {
	// Interest names the message types this inspector wants to see. It is read once,
	// when the session opens, so the relay can pass every other message through as raw
	// bytes without decoding it.
	Interest() Interest
	// ClientMessage is called before a client message of an Interest.Client type is
	// forwarded upstream. A nil result forwards it. An error denies it: the client
	// receives an ErrorResponse (the *Error's SQLSTATE when err is one, 42501 otherwise),
	// the transaction is aborted exactly as by a server-side error, and in the extended
	// protocol every further message up to the next Sync is discarded unseen.
	ClientMessage(msg pgproto3.FrontendMessage) error
	// ServerMessage is called before a server message of an Interest.Server type is sent
	// to the client. It returns nil to send the message unchanged, or the message to send
	// instead. An error ends the session with a FATAL ErrorResponse (the *Error's SQLSTATE
	// when err is one, XX000 otherwise): a result that could not be inspected must not
	// reach the client.
	ServerMessage(msg pgproto3.BackendMessage) (pgproto3.BackendMessage, error)
	// Close is called once when the session ends, with nil when the client ended it
	// with Terminate and the reason otherwise.
	Close(err error)
}

// SessionInfo describes a session to an Inspector. The client controls only User,
// Database and Parameters; everything else comes from the kernel or the configuration.
type SessionInfo struct {
	// ID is unique among the sessions of one Server and appears in its log lines.
	ID uint64
	// Origin is the kernel's account of who opened the connection and where it was going.
	Origin origin.Origin
	// Client is the connection's remote address as the proxy sees it.
	Client netip.AddrPort
	// Target is the Name of the selected target.
	Target string
	// User and Database are the names from the client's startup packet (Database
	// defaults to User, as in PostgreSQL).
	User, Database string
	// Parameters are the other startup parameters the client sent (application_name,
	// options, client_encoding, ...), which are passed on to the upstream.
	Parameters map[string]string
	// TLS tells whether the client connection is encrypted.
	TLS bool
	// ProtocolMinor is the minor version of protocol 3 in use with the client (0 or 2).
	ProtocolMinor uint16
	// Started is when the connection was accepted.
	Started time.Time
	// Notify sends the client a NoticeResponse between two of the server's messages, from
	// any goroutine, e.g. to say a statement is held for approval while it waits. It fails
	// once the session has ended.
	Notify func(*pgproto3.NoticeResponse) error
	// SentToClient returns how many bytes of messages the proxy has relayed to the
	// client so far, from any goroutine: the difference between two calls sizes the
	// results sent in between (the audit's outcome records report it).
	SentToClient func() int64
}

// Interest is the set of message types a SessionInspector wants to see in each direction.
type Interest struct {
	// Client may contain 'Q', 'P', 'B', 'E', 'D' and 'C' (Query, Parse, Bind, Execute,
	// Describe, Close): the messages a statement decision can be taken on, and 'S' (Sync,
	// shown but never refused: an error for it ends the session). Other client message
	// types are never shown.
	Client MessageTypes
	// Server may contain any backend message type ('T' RowDescription, 'D' DataRow, 'C'
	// CommandComplete, 'E' ErrorResponse, 'N' NoticeResponse, 'A' NotificationResponse, ...).
	Server MessageTypes
}

// RowFilter is implemented by a SessionInspector that asked for DataRow ('D') or CopyData
// ('d') but only needs some of them (masking needs the rows of results with a masked
// column): Wants is asked per message, and rows it does not want pass as raw frames, so
// results nobody rewrites cost nothing to decode.
type RowFilter interface {
	Wants(typ byte) bool
}

// ServerIdler is implemented by a SessionInspector with work that need not delay the
// client's answer (the guard's outcome records): the relay calls ServerIdle on the
// server-to-client goroutine once it has flushed to the client everything the server sent,
// just before it waits for the server's next message. Work done there overlaps the
// client's next request instead of lengthening every round trip, which on a busy machine
// costs more than the work itself.
type ServerIdler interface {
	ServerIdle()
}

// MessageTypes is a set of wire-protocol message type bytes, as a bitmap so that the relay
// can test membership per message without a map lookup.
type MessageTypes [4]uint64

// Messages returns the set of the message type bytes in types, e.g. Messages("QPB").
func Messages(types string) MessageTypes {
	var s MessageTypes
	for i := range len(types) {
		t := types[i]
		s[t/64] |= 1 << (t % 64)
	}
	return s
}

// Has reports whether t is in the set.
func (s *MessageTypes) Has(t byte) bool { return s[t/64]&(1<<(t%64)) != 0 }
