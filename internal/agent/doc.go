// Package agent wires sluice together: configuration, the redirect programs, the proxy,
// the control API and metrics, and the daemon's lifecycle (start without a gap, reload on
// SIGHUP, drain on SIGTERM leaving enforcement pinned).
package agent
