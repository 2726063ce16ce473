package agent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/yamlfile"
)

// Defaults a production install can run with unchanged.
const (
	DefaultPinDir        = "/sys/fs/bpf/sluice"
	DefaultControlSocket = "/run/sluice/control.sock"
	DefaultProxyPort     = 15432
	DefaultDrainTimeout  = 30 * time.Second
	// DefaultEnrollmentsFile keeps enrollments across restarts (systemd's StateDirectory).
	DefaultEnrollmentsFile = "/var/lib/sluice/enrollments.json"
	DefaultAuditDir        = "/var/lib/sluice/audit"
	DefaultAuditKeyFile    = "/etc/sluice/audit.key"
)

func (c *Config) defaults() {
	a := &c.Agent
	if a.PinDir == "" {
		a.PinDir = DefaultPinDir
	}
	if a.ControlSocket == "" {
		a.ControlSocket = DefaultControlSocket
	}
	if a.LogFormat == "" {
		a.LogFormat = "text"
	}
	if a.LogLevel == "" {
		a.LogLevel = "info"
	}
	if a.DrainTimeout == 0 {
		a.DrainTimeout = Duration(DefaultDrainTimeout)
	}
	if c.Identity.EnrollmentsFile == "" {
		c.Identity.EnrollmentsFile = DefaultEnrollmentsFile
	}
	if c.Agent.Name == "" {
		c.Agent.Name, _ = os.Hostname()
	}
	if c.Audit.Dir == "" {
		c.Audit.Dir = DefaultAuditDir
	}
	if c.Audit.KeyFile == "" {
		c.Audit.KeyFile = DefaultAuditKeyFile
	}
	if c.Audit.Sync == "" {
		c.Audit.Sync = string(audit.SyncBatched)
	}
	if c.Redirect.ProxyPort == 0 {
		c.Redirect.ProxyPort = DefaultProxyPort
	}
	if len(c.Redirect.Ports) == 0 {
		c.Redirect.Ports = []uint16{5432}
	}
	for i := range c.Targets {
		if c.Targets[i].Port == 0 {
			c.Targets[i].Port = 5432
		}
		if c.Targets[i].TLS == "" {
			c.Targets[i].TLS = string(proxy.TLSVerifyFull)
		}
	}
}

// validate checks what decoding cannot: required fields, consistency, and values the
// kernel or the proxy would only reject later. Each error names file, line and field.
func (c *Config) validate() error {
	var errs []error
	bad := func(line int, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", c.file, line, field, fmt.Sprintf(format, args...)))
	}
	switch c.Agent.LogFormat {
	case "text", "json":
	default:
		bad(c.line("agent", "log_format"), "agent.log_format", "must be text or json, not %q", c.Agent.LogFormat)
	}
	if _, err := parseLevel(c.Agent.LogLevel); err != nil {
		bad(c.line("agent", "log_level"), "agent.log_level", "%v", err)
	}
	if m := c.Agent.MetricsAddress; m != "" {
		if err := loopbackAddr(m); err != nil {
			bad(c.line("agent", "metrics_address"), "agent.metrics_address", "%v", err)
		}
	}
	for _, f := range []struct{ key, v string }{{"ipv4", c.Redirect.NodeLocal.IPv4}, {"ipv6", c.Redirect.NodeLocal.IPv6}} {
		if f.v == "" {
			continue
		}
		if a, err := netip.ParseAddr(f.v); err != nil || (f.key == "ipv4") != a.Is4() {
			bad(c.line("redirect", "node_local", f.key), "redirect.node_local."+f.key, "%q is not an %s address", f.v, f.key)
		}
	}
	for _, p := range c.Redirect.Ports {
		if p == c.Redirect.ProxyPort {
			bad(c.line("redirect", "ports"), "redirect.ports", "port %d is the proxy's own port", p)
		}
	}
	names := map[string]bool{}
	for i, t := range c.Targets {
		at := func(field string) (int, string) {
			return c.line("targets", i, field), fmt.Sprintf("targets[%d].%s", i, field)
		}
		if t.Name == "" {
			l, f := at("name")
			bad(l, f, "required")
		} else if names[t.Name] {
			l, f := at("name")
			bad(l, f, "duplicate target name %q", t.Name)
		}
		names[t.Name] = true
		if len(t.Destinations) == 0 {
			l, f := at("destinations")
			bad(l, f, "at least one destination is required")
		}
		if t.Host == "" {
			l, f := at("host")
			bad(l, f, "required")
		}
		if t.User == "" {
			l, f := at("user")
			bad(l, f, "required")
		}
		switch proxy.TLSMode(t.TLS) {
		case proxy.TLSVerifyFull, proxy.TLSRequire, proxy.TLSDisable:
		default:
			l, f := at("tls")
			bad(l, f, "must be verify-full, require or disable, not %q", t.TLS)
		}
	}
	for i, cg := range c.Cgroups {
		if cg.Path == "" {
			bad(c.line("cgroups", i, "path"), fmt.Sprintf("cgroups[%d].path", i), "required")
		}
	}
	if _, err := audit.ParseSyncPolicy(c.Audit.Sync); err != nil {
		bad(c.line("audit", "sync"), "audit.sync", "%v", err)
	}
	if c.Agent.MaxProcs < 0 {
		bad(c.line("agent", "max_procs"), "agent.max_procs", "must not be negative (0 means a quarter of the CPUs)")
	}
	if c.Audit.MaxParameterBytes < 0 {
		bad(c.line("audit", "max_parameter_bytes"), "audit.max_parameter_bytes", "must not be negative (0 means the default, %d)", guard.DefaultMaxParameterBytes)
	}
	if err := c.Identity.Validate(); err != nil {
		bad(c.line("identity"), "identity", "%v", err)
	}
	return errors.Join(errs...)
}

// line finds the line of a key path in the file, for validation errors.
func (c *Config) line(path ...any) int { return yamlfile.Line(c.tree, path...) }

func loopbackAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.IsLoopback() {
		return fmt.Errorf("%q must be a loopback address (metrics stay on the node)", host)
	}
	return nil
}
