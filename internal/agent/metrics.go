package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector reads the live numbers at scrape time (kernel counters, map occupancy,
// sessions), so nothing on the data path updates a metric for them.
type collector struct {
	a *Agent

	connects, mapEntries, sessions *prometheus.Desc
	// The audit log's counters (audit.Stats); a rising failed count is a full or
	// failing disk refusing statements.
	auditRecords, auditWrites, auditSyncs, auditCheckpoints, auditBytes *prometheus.Desc
}

func newCollector(a *Agent) *collector {
	return &collector{
		a: a,
		connects: prometheus.NewDesc("sluice_connects_total",
			"Connects to a redirected port seen by the kernel programs, by outcome.", []string{"outcome"}, nil),
		mapEntries: prometheus.NewDesc("sluice_origin_map_entries",
			"Entries in the kernel's origin maps.", []string{"map"}, nil),
		sessions: prometheus.NewDesc("sluice_sessions",
			"Client sessions being relayed, by the mode of their cgroup.", []string{"mode"}, nil),
		auditRecords: prometheus.NewDesc("sluice_audit_records_total",
			"Audit records appended, by result: failed ones refused their statement (58030), e.g. on a full disk.", []string{"result"}, nil),
		auditWrites: prometheus.NewDesc("sluice_audit_writes_total",
			"write(2) calls on audit segments; records are batched per sync window.", nil, nil),
		auditSyncs: prometheus.NewDesc("sluice_audit_fsyncs_total",
			"fsync(2) calls on audit segments.", nil, nil),
		auditCheckpoints: prometheus.NewDesc("sluice_audit_checkpoints_total",
			"Signed checkpoints written since the agent started.", nil, nil),
		auditBytes: prometheus.NewDesc("sluice_audit_bytes_total",
			"Bytes written to audit segments.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connects
	ch <- c.mapEntries
	ch <- c.sessions
	if c.a.audit != nil {
		ch <- c.auditRecords
		ch <- c.auditWrites
		ch <- c.auditSyncs
		ch <- c.auditCheckpoints
		ch <- c.auditBytes
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if s, err := c.a.redirect.Stats(); err == nil {
		for outcome, v := range map[string]uint64{"redirected": s.Redirected, "refused": s.Refused, "passed": s.Passed, "ambiguous": s.Ambiguous} {
			ch <- prometheus.MustNewConstMetric(c.connects, prometheus.CounterValue, float64(v), outcome)
		}
		ch <- prometheus.MustNewConstMetric(c.mapEntries, prometheus.GaugeValue, float64(s.Origins), "by_cookie")
		ch <- prometheus.MustNewConstMetric(c.mapEntries, prometheus.GaugeValue, float64(s.Tuples), "by_tuple")
	}
	byMode := map[string]int{"enforce": 0, "audit": 0}
	for _, s := range c.a.guard.Sessions() {
		byMode[s.Info.Origin.Mode.String()]++
	}
	for mode, n := range byMode {
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(n), mode)
	}
	if c.a.audit != nil {
		st := c.a.audit.Stats()
		ch <- prometheus.MustNewConstMetric(c.auditRecords, prometheus.CounterValue, float64(st.Records), "written")
		ch <- prometheus.MustNewConstMetric(c.auditRecords, prometheus.CounterValue, float64(st.Failed), "failed")
		ch <- prometheus.MustNewConstMetric(c.auditWrites, prometheus.CounterValue, float64(st.Writes))
		ch <- prometheus.MustNewConstMetric(c.auditSyncs, prometheus.CounterValue, float64(st.Syncs))
		ch <- prometheus.MustNewConstMetric(c.auditCheckpoints, prometheus.CounterValue, float64(st.Checkpoints))
		ch <- prometheus.MustNewConstMetric(c.auditBytes, prometheus.CounterValue, float64(st.Bytes))
	}
}

func (a *Agent) startMetrics() error {
	addr := a.cfg.Load().Agent.MetricsAddress
	if addr == "" {
		return nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(a), a.statements, a.overhead, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	a.metrics = &http.Server{Handler: mux}
	go func() {
		if err := a.metrics.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "err", err)
		}
	}()
	return nil
}
