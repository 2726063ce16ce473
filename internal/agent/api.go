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
	// Enrollments are the cgroups bound to a verified token with `sluice enroll`.
	Enrollments []EnrollmentStatus `json:"enrollments"`
}

// SessionStatus is one live session.
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
	// Container and Pod are what the cgroup path says runs there (docker, containerd,
	// CRI-O, kubepods layouts), when it says.
	Container string `json:"container,omitempty"`
	Pod       string `json:"pod,omitempty"`
	// DatabaseUser is the login the session runs as upstream when chosen for its
	// identity (DatabaseRole: the role it maps to); empty: the target's own user.
	DatabaseUser string `json:"database_user,omitempty"`
	DatabaseRole string `json:"database_role,omitempty"`
	// Subject and Groups are the verified identity; Unverified says why there is none
	// (audit mode only: enforce mode refuses such sessions).
	Issuer     string   `json:"issuer,omitempty"`
	Subject    string   `json:"subject,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	Expiry     string   `json:"expiry,omitempty"`
	Unverified string   `json:"unverified,omitempty"`
}

// EnrollmentStatus is one enrolled cgroup.
type EnrollmentStatus struct {
	Cgroup  string   `json:"cgroup"`
	ID      uint64   `json:"id"`
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
	Expiry  string   `json:"expiry"`
	TokenID string   `json:"token_id"`
}

// EnrollRequest is POST /v1/enroll: bind a token to a cgroup (and its descendants).
type EnrollRequest struct {
	Cgroup string `json:"cgroup"`
	Token  string `json:"token"`
}

// ModeStatus is one explicit cgroup setting.
type ModeStatus struct {
	Cgroup string `json:"cgroup"` // hierarchy path, or "(gone)" for a removed cgroup
	ID     uint64 `json:"id"`
	Mode   string `json:"mode"`
	// Warning says why the mode does not hold against some workload (the cgroup is inside
	// a subtree delegated to a user, who can move out of it) and what to set instead.
	Warning string `json:"warning,omitempty"`
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

// DecisionRequest is POST /v1/approvals/{id}/approve and /deny.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty"`
}
