// Package origin holds what the kernel recorded about a redirected connection, and the
// lookup interface through which the proxy asks for it. It sits between the redirect
// package (which reads eBPF maps) and the proxy (which must know nothing of eBPF), so
// neither imports the other.
package origin

import (
	"errors"
	"net/netip"
	"time"
)

// Mode is the enforcement mode in force for the cgroup that opened the connection. The
// proxy needs it because `audit` sessions are recorded but never blocked or masked.
type Mode uint8

// The modes a cgroup can be in. ModeUnset means "inherit from the nearest ancestor".
const (
	ModeUnset Mode = iota
	ModeOff
	ModeAudit
	ModeEnforce
	ModeExempt
)

// String returns the operator-facing name used in config files, CLI flags and logs.
func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeAudit:
		return "audit"
	case ModeEnforce:
		return "enforce"
	case ModeExempt:
		return "exempt"
	default:
		return "unset"
	}
}

// ParseMode accepts the names String produces (except "unset" and "exempt", which an
// operator never sets by hand: exemption belongs to the agent's own cgroup).
func ParseMode(s string) (Mode, error) {
	switch s {
	case "off":
		return ModeOff, nil
	case "audit":
		return ModeAudit, nil
	case "enforce":
		return ModeEnforce, nil
	}
	return ModeUnset, errors.New(`mode must be "enforce", "audit" or "off", not "` + s + `"`)
}

// Origin is the kernel's account of a redirected connection: where the client meant to
// go and who it was. The client can influence none of these fields.
type Origin struct {
	// Dest is the address the client connected to before the redirect (IPv4 as a plain
	// 4-byte address, also when the client used a v4-mapped IPv6 address).
	Dest netip.AddrPort
	// CgroupID is the cgroup v2 id of the task that called connect().
	CgroupID uint64
	// PID is the thread-group id (process id) of the task that called connect().
	PID uint32
	// UID is the task's uid as seen from the initial user namespace.
	UID uint32
	// NetnsCookie identifies the network namespace the connect() came from.
	NetnsCookie uint64
	// Mode is the effective mode that caused the redirect (ModeEnforce or ModeAudit).
	Mode Mode
	// At is when connect() ran, on the kernel's monotonic clock (CLOCK_MONOTONIC).
	At time.Duration
	// Cookie is the kernel's socket cookie of the client's socket.
	Cookie uint64
}

// ErrNotFound means no origin was recorded for the connection: it was not redirected by
// our programs (a direct connection to the proxy port, or a squatter). Callers must close
// the connection: a connection without an origin has no identity.
var ErrNotFound = errors.New("no origin recorded for this connection")

// ErrAmbiguous means two client sockets produced the same connection tuple, so the
// origin cannot be attributed safely. Callers must close the connection.
var ErrAmbiguous = errors.New("origin is ambiguous: tuple collision between sockets")

// Lookup finds the origin of an accepted connection by its addresses as the proxy sees
// them: client is the remote address, local the proxy's own address of the connection.
type Lookup interface {
	Lookup(client, local netip.AddrPort) (Origin, error)
}
