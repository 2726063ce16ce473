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
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connects
	ch <- c.mapEntries
	ch <- c.sessions
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
