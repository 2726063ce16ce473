// Package version carries the build's version string, set by the Makefile with -ldflags so
// logs, `sluice version` and audit records name the exact build that produced them.
package version

// Version is the git description of the build ("dev" for a plain `go build`).
var Version = "dev"
