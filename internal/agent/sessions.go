package agent

import (
	"context"
	"sort"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/proxy"
)

// sessions is the agent's own inspector: it keeps the table of live sessions that
// `sluice status` shows. It asks to see no message, so it costs the relay nothing.
type sessions struct {
	mu   sync.Mutex
	live map[uint64]*proxy.SessionInfo
}

func newSessions() *sessions {
	return &sessions{live: map[uint64]*proxy.SessionInfo{}}
}

// OpenSession registers the session.
func (s *sessions) OpenSession(_ context.Context, info *proxy.SessionInfo) (proxy.SessionInspector, error) {
	s.mu.Lock()
	s.live[info.ID] = info
	s.mu.Unlock()
	return &sessionEntry{s: s, id: info.ID}, nil
}

// SessionStatus is one live session in the control API's status.
type SessionStatus struct {
	ID          uint64 `json:"id"`
	Cgroup      string `json:"cgroup"`
	PID         uint32 `json:"pid"`
	Mode        string `json:"mode"`
	Destination string `json:"destination"`
	Target      string `json:"target"`
	User        string `json:"user"`
	Database    string `json:"database"`
	Started     string `json:"started"`
}

func (s *sessions) list() []SessionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionStatus, 0, len(s.live))
	for _, i := range s.live {
		path, _ := cgroup.PathOf(i.Origin.CgroupID)
		out = append(out, SessionStatus{
			ID:          i.ID,
			Cgroup:      cgroup.Name(path),
			PID:         i.Origin.PID,
			Mode:        i.Origin.Mode.String(),
			Destination: i.Origin.Dest.String(),
			Target:      i.Target,
			User:        i.User,
			Database:    i.Database,
			Started:     i.Started.UTC().Format("2006-01-02T15:04:05Z"),
		})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

type sessionEntry struct {
	s  *sessions
	id uint64
}

func (e *sessionEntry) Interest() proxy.Interest                     { return proxy.Interest{} }
func (e *sessionEntry) ClientMessage(pgproto3.FrontendMessage) error { return nil }
func (e *sessionEntry) ServerMessage(pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	return nil, nil
}

func (e *sessionEntry) Close(error) {
	e.s.mu.Lock()
	delete(e.s.live, e.id)
	e.s.mu.Unlock()
}
