package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/approvals"
	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/masking"
	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/nodelocal"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/policy"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/proxy"
	"github.com/sluicehq/sluice/internal/redirect"
	"github.com/sluicehq/sluice/internal/roles"
	"github.com/sluicehq/sluice/internal/version"
)

// Agent is one running sluice daemon.
type Agent struct {
	path  string
	cfg   atomic.Pointer[Config]
	level slog.LevelVar
	log   *slog.Logger

	redirect *redirect.Redirect
	// nodeLocal4/6 are the node-local addresses in use (unset when disabled).
	nodeLocal4, nodeLocal6 netip.Addr
	proxy                  *proxy.Server
	identities             *identity.Resolver
	policy                 *policy.Engine
	audit                  *audit.Log
	approvals              *approvals.Store
	masking                *masking.Engine
	maskParser             *sqlparse.Parser
	// logins are the per-target identity-to-login mappers, swapped on reload.
	logins     atomic.Pointer[map[string]*roles.Mapper]
	guard      *guard.Guard
	statements *prometheus.CounterVec
	overhead   prometheus.Histogram
	// stopBackground ends the agent's background loops (enrollment pruning).
	stopBackground context.CancelFunc
	listeners      []net.Listener
	control        *control
	metrics        *http.Server
	serving        sync.WaitGroup
}

// Run starts the agent from the config file at path and runs it until ctx ends or a
// SIGTERM/SIGINT arrives; SIGHUP reloads the file. Enforcement stays pinned after it
// returns: enforced cgroups fail closed until the next start.
func Run(ctx context.Context, path string, logOut io.Writer) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	a := &Agent{path: path}
	a.cfg.Store(cfg)
	lvl, _ := parseLevel(cfg.Agent.LogLevel)
	a.level.Set(lvl)
	a.log = newLogger(logOut, cfg.Agent.LogFormat, &a.level)

	if err := a.start(ctx); err != nil {
		a.stop(context.Background())
		return err
	}
	a.log.Info("sluice agent running", "version", version.Version, "proxy_port", cfg.Redirect.ProxyPort,
		"ports", cfg.Redirect.Ports, "control_socket", cfg.Agent.ControlSocket, "procs", applyProcs(cfg))

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return a.drain()
		case s := <-sig:
			if s == syscall.SIGHUP {
				a.reload()
				continue
			}
			a.log.Info("stopping", "signal", s.String())
			return a.drain()
		}
	}
}

// start brings the agent up in the order that never opens a gap: the marked listeners
// exist (and queue connections) before the programs are attached or replaced, and they
// are served as soon as the origin lookup is there.
func (a *Agent) start(ctx context.Context) error {
	cfg := a.cfg.Load()
	mark := cfg.Redirect.ListenerMark
	if mark == 0 {
		mark = redirect.DefaultListenerMark
	}
	hosts := []string{"127.0.0.1", "::1"}
	ropts := redirectOptions(cfg)
	if nl := nodeLocalConfig(cfg); nl != nil {
		ifc, err := nodelocal.Ensure(*nl)
		if err != nil {
			return fmt.Errorf("node-local address: %w", err)
		}
		ropts.NodeLocal4, ropts.NodeLocal6 = ifc.IPv4, ifc.IPv6
		a.nodeLocal4, a.nodeLocal6 = ifc.IPv4, ifc.IPv6
		hosts = append(hosts, ifc.IPv4.String())
		if ifc.IPv6.IsValid() {
			hosts = append(hosts, ifc.IPv6.String())
		}
		a.log.Info("node-local proxy address ready", "interface", ifc.Name, "kind", ifc.Kind, "ipv4", ifc.IPv4, "ipv6", ifc.IPv6)
	}
	for _, host := range hosts {
		addr := net.JoinHostPort(host, strconv.Itoa(int(cfg.Redirect.ProxyPort)))
		ln, err := redirect.Listen(ctx, "tcp", addr, mark)
		if err != nil {
			return fmt.Errorf("proxy listener %s: %w", addr, err)
		}
		a.listeners = append(a.listeners, ln)
	}
	var err error
	if a.redirect, err = redirect.Open(ropts); err != nil {
		return err
	}
	if err := a.exemptSelf(); err != nil {
		return err
	}
	if err := a.applyModes(cfg); err != nil {
		return err
	}
	for _, w := range cfg.Identity.Warnings() {
		a.log.Warn("identity configuration", "warning", w)
	}
	if a.identities, err = identity.NewResolver(cfg.Identity, a.log); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	a.stopBackground = cancel
	go a.identities.Run(bg, 30*time.Second)
	rules, err := loadRules(cfg)
	if err != nil {
		return err
	}
	if a.policy, err = policy.New(policy.Options{Rules: rules, Logger: a.log}); err != nil {
		return err
	}
	if a.audit, err = openAudit(cfg, a); err != nil {
		return err
	}
	a.statements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_statements_total", Help: "Statements decided, by decision.",
	}, []string{"decision"})
	a.overhead = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sluice_statement_overhead_seconds",
		Help:    "Time sluice held a client message before forwarding it (identity, decision, audit record; approval waits excluded).",
		Buckets: prometheus.ExponentialBuckets(5e-6, 2, 16),
	})
	a.approvals = newApprovals(cfg, a.log)
	ts, err := targets(ctx, cfg)
	if err != nil {
		return err
	}
	if a.masking, err = a.openMasking(cfg); err != nil {
		return err
	}
	cats := &catalogs{targets: map[string]proxy.Target{}, byDB: map[[2]string]*catalog.Conn{}, opts: catalog.Options{Logger: a.log}}
	for _, t := range ts {
		cats.targets[t.Name] = t
	}
	a.guard, err = guard.New(guard.Options{
		Identities: a.identities,
		Policy:     a.policy,
		Audit:      a.audit,
		Approvals:  a.approvals,
		Masking:    a.masking,
		Catalogs:   cats.get,
		Logins: func(target string) *roles.Mapper {
			if m := a.logins.Load(); m != nil {
				return (*m)[target]
			}
			return nil
		},
		Logger:            a.log,
		Counter:           func(d string) { a.statements.WithLabelValues(d).Inc() },
		MaxParameterBytes: cfg.Audit.MaxParameterBytes,
		Overhead:          func(d time.Duration) { a.overhead.Observe(d.Seconds()) },
		Modes:             a.redirect,
	})
	if err != nil {
		return err
	}
	mappers, err := a.loginMappers(ctx, cfg, ts)
	if err != nil {
		return err
	}
	a.cleanupRoles(ctx, mappers)
	a.logins.Store(&mappers)
	if a.proxy, err = proxy.NewServer(a.proxyConfig(cfg, ts)); err != nil {
		return err
	}
	for _, ln := range a.listeners {
		a.serving.Add(1)
		go func() {
			defer a.serving.Done()
			if err := a.proxy.Serve(ln); err != nil && !errors.Is(err, proxy.ErrServerClosed) {
				a.log.Error("proxy listener stopped", "addr", ln.Addr().String(), "err", err)
			}
		}()
	}
	if err := a.startControl(); err != nil {
		return err
	}
	return a.startMetrics()
}

// exemptSelf keeps the agent's own upstream connections out of the redirect, when its
// cgroup is below the attach root (otherwise the programs never see its sockets).
func (a *Agent) exemptSelf() error {
	self, err := cgroup.Self()
	if err != nil {
		return err
	}
	if err := a.redirect.Exempt(self); err != nil {
		a.log.Debug("agent cgroup not exempted (outside the attach root)", "cgroup", cgroup.Name(self), "reason", err)
	}
	return nil
}

func (a *Agent) applyModes(cfg *Config) error {
	for _, c := range cfg.Cgroups {
		if err := a.redirect.SetMode(c.Path, origin.Mode(c.Mode)); err != nil {
			return fmt.Errorf("%s: cgroups: %w", cfg.file, err)
		}
		if abs, err := cgroup.Resolve(c.Path); err == nil {
			if w := delegationWarning(abs, origin.Mode(c.Mode)); w != "" {
				a.log.Warn("cgroup mode does not hold against every workload", "cgroup", cgroup.Name(abs), "source", cfg.file, "warning", w)
			}
		}
	}
	return nil
}

func redirectOptions(cfg *Config) redirect.Options {
	o := redirect.Options{
		CgroupRoot:   cfg.Agent.CgroupRoot,
		PinDir:       cfg.Agent.PinDir,
		ProxyPort:    cfg.Redirect.ProxyPort,
		Ports:        cfg.Redirect.Ports,
		ListenerMark: cfg.Redirect.ListenerMark,
	}
	for _, p := range cfg.Redirect.CIDRs {
		o.CIDRs = append(o.CIDRs, netip.Prefix(p))
	}
	return o
}

func (a *Agent) proxyConfig(cfg *Config, targets []proxy.Target) proxy.Config {
	return proxy.Config{
		Targets:        targets,
		Origins:        a.redirect,
		Inspector:      a.guard,
		TLSCertFile:    cfg.Proxy.TLSCertFile,
		TLSKeyFile:     cfg.Proxy.TLSKeyFile,
		MaxMessageSize: cfg.Proxy.MaxMessageSize,
		Logger:         a.log,
	}
}

// targets builds the proxy's targets, with each one's credential source.
func targets(ctx context.Context, cfg *Config) ([]proxy.Target, error) {
	var out []proxy.Target
	for _, t := range cfg.Targets {
		pt := proxy.Target{
			Name:             t.Name,
			Host:             t.Host,
			Port:             t.Port,
			User:             t.User,
			TLS:              proxy.TLSMode(t.TLS),
			CAFile:           t.CAFile,
			AllowedUsers:     t.AllowedUsers,
			AllowedDatabases: t.AllowedDatabases,
		}
		for _, d := range t.Destinations {
			pt.Destinations = append(pt.Destinations, proxy.Destination(d))
		}
		if !t.Credentials.IsZero() {
			src, err := t.Credentials.Source(ctx, &pt, t.User)
			if err != nil {
				return nil, fmt.Errorf("%s: target %s: %w", cfg.file, t.Name, err)
			}
			pt.Password = src
		}
		out = append(out, pt)
	}
	return out, nil
}

// reload applies a changed config file atomically, or keeps the running one and says why.
func (a *Agent) reload() {
	cfg, err := LoadConfig(a.path)
	if err != nil {
		a.log.Error("reload refused, keeping the running configuration", "err", err)
		return
	}
	old := a.cfg.Load()
	if cfg.Agent.PinDir != old.Agent.PinDir || cfg.Agent.CgroupRoot != old.Agent.CgroupRoot ||
		cfg.Redirect.ProxyPort != old.Redirect.ProxyPort || cfg.Agent.ControlSocket != old.Agent.ControlSocket ||
		!reflect.DeepEqual(cfg.Redirect.NodeLocal, old.Redirect.NodeLocal) {
		a.log.Error("reload refused, keeping the running configuration: pin_dir, cgroup_root, proxy_port, node_local and control_socket change only with a restart")
		return
	}
	rules, err := loadRules(cfg)
	if err != nil {
		a.log.Error("reload refused, keeping the running configuration", "err", err)
		return
	}
	ts, err := targets(context.Background(), cfg)
	if err != nil {
		a.log.Error("reload refused, keeping the running configuration", "err", err)
		return
	}
	mappers, err := a.loginMappers(context.Background(), cfg, ts)
	if err != nil {
		a.log.Error("reload refused, keeping the running configuration", "err", err)
		return
	}
	if err := a.proxy.SetTargets(ts); err != nil {
		closeMappers(mappers)
		a.log.Error("reload refused, keeping the running configuration", "err", err)
		return
	}
	// Sessions keep the leases of the mappers they started with; the old mappers' admin
	// connections close as their last roles are dropped.
	closeMappers(*a.logins.Swap(&mappers))
	a.policy.SetRules(rules)
	if a.masking != nil && cfg.Masking.RulesFile != "" {
		if mr, err := masking.LoadFile(cfg.Masking.RulesFile); err != nil {
			a.log.Error("reload: masking rules not applied", "err", err)
		} else if err := a.masking.SetRules(mr); err != nil {
			a.log.Error("reload: masking rules not applied", "err", err)
		}
	}
	ropts := redirectOptions(cfg)
	if nl := nodeLocalConfig(cfg); nl != nil {
		ropts.NodeLocal4, ropts.NodeLocal6 = a.nodeLocal4, a.nodeLocal6
	}
	if err := a.redirect.Reconfigure(ropts); err != nil {
		a.log.Error("reload: redirect settings not applied", "err", err)
	}
	if err := a.applyModes(cfg); err != nil {
		a.log.Error("reload: cgroup modes not applied", "err", err)
	}
	lvl, _ := parseLevel(cfg.Agent.LogLevel)
	a.level.Set(lvl)
	a.cfg.Store(cfg)
	a.log.Info("configuration reloaded", "file", a.path, "procs", applyProcs(cfg))
}

// drain stops accepting, lets sessions finish up to the drain timeout, then stops.
func (a *Agent) drain() error {
	timeout := time.Duration(a.cfg.Load().Agent.DrainTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return a.stop(ctx)
}

// stop releases everything except the pinned enforcement.
func (a *Agent) stop(ctx context.Context) error {
	var errs []error
	if a.control != nil {
		errs = append(errs, a.control.close())
	}
	if a.metrics != nil {
		errs = append(errs, a.metrics.Close())
	}
	if a.proxy != nil {
		if err := a.proxy.Shutdown(ctx); err != nil {
			a.log.Warn("sessions still open at the drain deadline were closed", "err", err)
		}
		a.serving.Wait()
	} else {
		for _, ln := range a.listeners {
			ln.Close()
		}
	}
	if a.redirect != nil {
		errs = append(errs, a.redirect.Close())
	}
	if m := a.logins.Load(); m != nil {
		closeMappers(*m) // after the sessions' leases were released, before the audit closes
	}
	if a.audit != nil {
		errs = append(errs, a.audit.Close()) // the closing checkpoint
	}
	if a.policy != nil {
		a.policy.Close()
	}
	if a.maskParser != nil {
		a.maskParser.Close()
	}
	if a.stopBackground != nil {
		a.stopBackground()
	}
	return errors.Join(errs...)
}

// Uninstall removes everything an agent with the config at path installed: the pinned
// programs and maps (enforcement ends) and the control socket.
func Uninstall(path string) error {
	cfg, err := LoadConfig(path)
	if err != nil {
		return err
	}
	err = redirect.Uninstall(cfg.Agent.PinDir)
	if nl := nodeLocalConfig(cfg); nl != nil {
		err = errors.Join(err, nodelocal.Remove(nl.Name))
	}
	if rerr := os.Remove(cfg.Agent.ControlSocket); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
