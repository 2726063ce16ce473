package agent

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/credentials"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/roles"
	"github.com/sluicehq/sluice/internal/yamlfile"
)

// Config is the agent's one configuration file (deploy/sluice.yaml is the commented
// example). It is decoded strictly: a misspelt key is an error naming file, line and key,
// because a silently ignored security setting is worse than a refused start.
type Config struct {
	Agent    AgentConfig    `yaml:"agent"`
	Redirect RedirectConfig `yaml:"redirect"`
	Proxy    ProxyConfig    `yaml:"proxy"`
	Targets  []TargetConfig `yaml:"targets"`
	// Identity says which OIDC issuers are trusted and how tokens bind to cgroups. In
	// enforce mode a session without a verified identity is refused.
	Identity identity.Config `yaml:"identity"`
	// Policy is the guardrail rule set every statement is decided by.
	Policy PolicyConfig `yaml:"policy"`
	// Audit is the write-ahead, tamper-evident statement log.
	Audit AuditConfig `yaml:"audit"`
	// Approvals configures how statements held by review rules reach a human.
	Approvals ApprovalsConfig `yaml:"approvals"`
	// Masking masks sensitive columns in enforce-mode results (docs/masking.md).
	Masking MaskingConfig `yaml:"masking"`
	// Cgroups seed explicit modes at start. Modes set at runtime persist in the pinned map
	// and win over this list only until the next start or reload re-applies it.
	Cgroups []CgroupConfig `yaml:"cgroups"`

	file string     // where it was read from, for error messages
	tree *yaml.Node // the document, to name lines in validation errors
}

// AgentConfig holds the daemon's own settings.
type AgentConfig struct {
	// Name identifies this agent among those sharing a database server (it prefixes the
	// ephemeral roles it creates and may drop); default: the host name.
	Name string `yaml:"name"`
	// PinDir is the bpffs directory for the pinned programs and maps.
	PinDir string `yaml:"pin_dir"`
	// CgroupRoot is where the programs attach; empty means the whole cgroup2 hierarchy.
	CgroupRoot string `yaml:"cgroup_root"`
	// ControlSocket is the unix socket of the operator API.
	ControlSocket string `yaml:"control_socket"`
	// ControlGroup is a group (name or gid) whose members may use the control API
	// besides root. Empty: root only.
	ControlGroup string `yaml:"control_group"`
	// MetricsAddress is the loopback address:port of the Prometheus endpoint; empty
	// disables it.
	MetricsAddress string `yaml:"metrics_address"`
	// LogFormat is "text" or "json".
	LogFormat string `yaml:"log_format"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// DrainTimeout bounds how long SIGTERM waits for sessions to end.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// MaxProcs caps the threads running the agent's Go code at once (GOMAXPROCS);
	// default a quarter of the CPUs available, at least 1 (procs.go says why).
	MaxProcs int `yaml:"max_procs"`
}

// RedirectConfig selects the connects to redirect.
type RedirectConfig struct {
	// Ports are the PostgreSQL ports to intercept (default 5432).
	Ports []uint16 `yaml:"ports"`
	// CIDRs optionally limit interception to these destinations.
	CIDRs []Prefix `yaml:"cidrs"`
	// ProxyPort is where the agent listens on loopback (default 15432).
	ProxyPort uint16 `yaml:"proxy_port"`
	// ListenerMark is the SO_MARK proving a listener is the agent's (0: the default).
	ListenerMark uint32 `yaml:"listener_mark"`
	// NodeLocal is the address containers (workloads in their own network namespace)
	// are redirected to; their 127.0.0.1 is their own. Without it their connects to a
	// redirected port are refused.
	NodeLocal NodeLocalConfig `yaml:"node_local"`
}

// NodeLocalConfig is the node-local proxy address, on an interface the agent creates.
type NodeLocalConfig struct {
	// Enabled creates the interface and listens on it (default true).
	Enabled *bool `yaml:"enabled"`
	// Interface is the dummy interface's name (default sluice0).
	Interface string `yaml:"interface"`
	// IPv4 is a link-local address (default 169.254.20.54), IPv6 an optional ULA.
	IPv4 string `yaml:"ipv4"`
	IPv6 string `yaml:"ipv6"`
}

// ProxyConfig holds the client-facing proxy settings.
type ProxyConfig struct {
	// TLSCertFile and TLSKeyFile are served to clients asking for TLS; empty generates
	// a self-signed pair at start.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// MaxMessageSize caps one inspected wire message, in bytes.
	MaxMessageSize int `yaml:"max_message_size"`
}

// TargetConfig is one upstream database and the original destinations leading to it.
type TargetConfig struct {
	Name string `yaml:"name"`
	// Destinations are "address", "address:port", "prefix" or "prefix:port" strings as
	// the client dials them ("10.0.0.5:5432", "10.0.0.0/24", "[fd00::5]:5432").
	Destinations []Destination `yaml:"destinations"`
	// Host and Port of the upstream server.
	Host string `yaml:"host"`
	Port uint16 `yaml:"port"`
	// User is the role the agent logs in as (unless Roles maps the session to another).
	User string `yaml:"user"`
	// Credentials say where User's password comes from, asked again for every new
	// upstream connection so rotation needs no restart: password_file, password_env, or
	// rds_iam (AWS RDS/Aurora IAM tokens; needs TLS). See docs/credentials.md.
	Credentials credentials.Config `yaml:",inline"`
	// Roles maps verified identities to least-privileged database logins, optionally as
	// short-lived roles created per session (docs/credentials.md). Nil: every session
	// logs in as User.
	Roles *roles.Config `yaml:"roles"`
	// TLS is verify-full (default), require or disable; CAFile verifies the server.
	TLS    string `yaml:"tls"`
	CAFile string `yaml:"ca_file"`
	// AllowedUsers and AllowedDatabases restrict the names clients may ask for.
	AllowedUsers     []string `yaml:"allowed_users"`
	AllowedDatabases []string `yaml:"allowed_databases"`
}

// PolicyConfig names the rules.
type PolicyConfig struct {
	// RulesFile is a YAML rule file (docs/policy.md); empty uses the built-in default pack.
	// SIGHUP reloads it.
	RulesFile string `yaml:"rules_file"`
}

// MaskingConfig names the masking rules and the node secret of the hash strategy.
type MaskingConfig struct {
	// RulesFile is the masking rule file; empty masks nothing. SIGHUP reloads it.
	RulesFile string `yaml:"rules_file"`
	// HashKeyFile holds the secret (at least 32 bytes) of the keyed-hash strategy; nodes
	// sharing it hash alike, so joins on hashed values work across them.
	HashKeyFile string `yaml:"hash_key_file"`
}

// ApprovalsConfig configures the review flow.
type ApprovalsConfig struct {
	// Timeout denies a held statement nobody decided on (default 5m).
	Timeout Duration `yaml:"timeout"`
	// WebhookURL receives each request as a JSON POST with a Slack-compatible "text".
	WebhookURL string `yaml:"webhook_url"`
}

// AuditConfig places and tunes the audit log.
type AuditConfig struct {
	// Dir holds the log segments.
	Dir string `yaml:"dir"`
	// KeyFile is the ed25519 key that signs checkpoints (`sluice audit keygen`).
	KeyFile string `yaml:"key_file"`
	// Sync is the fsync policy: always, batched (default) or none.
	Sync string `yaml:"sync"`
	// SyncWindow bounds how long batched leaves records unsynced (default 5ms).
	SyncWindow Duration `yaml:"sync_window"`
	// CheckpointEvery and CheckpointInterval bound the unsigned tail of the log.
	CheckpointEvery    int      `yaml:"checkpoint_every"`
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// MaxSegmentBytes rotates segments (default 64 MiB).
	MaxSegmentBytes int64 `yaml:"max_segment_bytes"`
	// MaxParameterBytes caps each bind parameter kept in a statement record (default
	// 4096); a longer value keeps its first bytes, its size and its SHA-256.
	MaxParameterBytes int `yaml:"max_parameter_bytes"`
}

// CgroupConfig seeds one cgroup's mode.
type CgroupConfig struct {
	// Path is absolute, or relative to the cgroup2 mount.
	Path string `yaml:"path"`
	Mode Mode   `yaml:"mode"`
}

// Mode is an enforcement mode written by name: enforce, audit or off.
type Mode origin.Mode

// UnmarshalYAML parses the mode's name.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	v, err := origin.ParseMode(n.Value)
	if err != nil {
		return yamlfile.LineError(n, "mode", err)
	}
	*m = Mode(v)
	return nil
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return yamlfile.LineError(n, "duration", err)
	}
	*d = Duration(v)
	return nil
}

// Prefix is a CIDR, or a single address meaning its host prefix.
type Prefix netip.Prefix

// UnmarshalYAML parses "10.0.0.0/8" or "10.0.0.5".
func (p *Prefix) UnmarshalYAML(n *yaml.Node) error {
	v, err := parsePrefix(n.Value)
	if err != nil {
		return yamlfile.LineError(n, "cidr", err)
	}
	*p = Prefix(v)
	return nil
}

// Destination is a target's original-destination matcher.
type Destination proxy.Destination

// UnmarshalYAML parses "addr", "addr:port", "prefix", "prefix:port" ("[v6]:port" for IPv6).
func (d *Destination) UnmarshalYAML(n *yaml.Node) error {
	s := n.Value
	var port uint16
	if host, p, err := splitHostPort(s); err == nil {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil || v == 0 {
			return yamlfile.LineError(n, "destination", fmt.Errorf("bad port in %q", s))
		}
		s, port = host, uint16(v)
	}
	pfx, err := parsePrefix(s)
	if err != nil {
		return yamlfile.LineError(n, "destination", err)
	}
	*d = Destination{Prefix: pfx, Port: port}
	return nil
}

// splitHostPort accepts "a.b.c.d:p", "a.b.c.d/n:p" and "[v6]:p", "[v6/n]:p".
func splitHostPort(s string) (string, string, error) {
	if strings.HasPrefix(s, "[") {
		i := strings.Index(s, "]:")
		if i < 0 {
			return "", "", errors.New("no port")
		}
		return s[1:i], s[i+2:], nil
	}
	if strings.Count(s, ":") != 1 {
		return "", "", errors.New("no port")
	}
	i := strings.LastIndex(s, ":")
	return s[:i], s[i+1:], nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// LoadConfig reads, strictly decodes, defaults and validates the file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return parseConfig(path, f)
}

func parseConfig(path string, r io.Reader) (*Config, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c := &Config{file: path}
	// An empty file is all defaults.
	if c.tree, err = yamlfile.Decode(path, b, c); err != nil && !errors.Is(err, yamlfile.ErrEmpty) {
		return nil, err
	}
	c.defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}
