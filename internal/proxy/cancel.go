package proxy

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Secret key lengths of the BackendKeyData the proxy issues: protocol 3.0 fixes 4 bytes;
// 3.2 allows up to 256 and PostgreSQL 18 uses 32, which makes guessing hopeless.
const (
	secretKeyLen30 = 4
	secretKeyLen32 = 32
)

// Issued process ids lie above Linux's largest possible pid (PID_MAX_LIMIT, 2^22), so
// pg_terminate_backend or pg_stat_activity given one names no real backend, and below
// 2^31, so clients that hold it as a signed int (libpq's PQbackendPID) see it positive.
const (
	issuedPIDBase  = 1 << 22
	issuedPIDRange = 1<<31 - issuedPIDBase
)

// cancelKeys maps the cancel keys the proxy issued to its sessions. Clients never see the
// upstream's key: a cancel request must name a key of ours, which the proxy then forwards
// with the upstream's key. An unknown key reaches nothing.
type cancelKeys struct {
	mu       sync.Mutex
	sessions map[uint32]*session // by issued process id
}

// issue creates a key for s, unique among the live sessions, and registers it.
func (k *cancelKeys) issue(s *session, protocolMinor uint16) *pgproto3.BackendKeyData {
	n := secretKeyLen30
	if protocolMinor >= 2 {
		n = secretKeyLen32
	}
	key := &pgproto3.BackendKeyData{SecretKey: make([]byte, n)}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sessions == nil {
		k.sessions = make(map[uint32]*session)
	}
	for {
		var b [4]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		key.ProcessID = issuedPIDBase + binary.BigEndian.Uint32(b[:])%issuedPIDRange
		if _, taken := k.sessions[key.ProcessID]; !taken {
			break
		}
	}
	_, _ = rand.Read(key.SecretKey)
	k.sessions[key.ProcessID] = s
	s.key = key
	return key
}

// release forgets s's key; a cancel request arriving later is ignored.
func (k *cancelKeys) release(s *session) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sessions[s.key.ProcessID] == s {
		delete(k.sessions, s.key.ProcessID)
	}
}

// lookup returns the session whose key req names, or nil. The secret is compared in
// constant time so that timing reveals nothing about it.
func (k *cancelKeys) lookup(req *pgproto3.CancelRequest) *session {
	k.mu.Lock()
	s := k.sessions[req.ProcessID]
	k.mu.Unlock()
	if s == nil || subtle.ConstantTimeCompare(s.key.SecretKey, req.SecretKey) != 1 {
		return nil
	}
	return s
}

// count returns the number of registered keys, which equals the number of live sessions.
func (k *cancelKeys) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.sessions)
}
