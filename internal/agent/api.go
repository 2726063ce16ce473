package agent

// The control API's JSON documents, shared by the agent and the CLI.

// Status is GET /v1/status.
type Status struct {
	Version    string          `json:"version"`
	PID        int             `json:"pid"`
	AttachRoot string          `json:"attach_root"`
	ProxyPort  uint16          `json:"proxy_port"`
	Ports      []uint16        `json:"ports"`
	Modes      []ModeStatus    `json:"modes"`
	Counters   Counters        `json:"counters"`
	Sessions   []SessionStatus `json:"sessions"`
}

// ModeStatus is one explicit cgroup setting.
type ModeStatus struct {
	Cgroup string `json:"cgroup"` // hierarchy path, or "(gone)" for a removed cgroup
	ID     uint64 `json:"id"`
	Mode   string `json:"mode"`
}

// Counters are the kernel programs' counters and origin map occupancy.
type Counters struct {
	Redirected uint64 `json:"redirected"`
	Refused    uint64 `json:"refused"`
	Passed     uint64 `json:"passed"`
	Ambiguous  uint64 `json:"ambiguous"`
	Origins    int    `json:"origins"`
	Tuples     int    `json:"tuples"`
}

// ModeRequest is PUT /v1/mode.
type ModeRequest struct {
	Cgroup string `json:"cgroup"`
	Mode   string `json:"mode"` // enforce, audit, off; "unset" clears the explicit setting
}

// apiError is every non-2xx response body.
type apiError struct {
	Error string `json:"error"`
}
