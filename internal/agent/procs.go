package agent

import (
	"os"
	"runtime"
)

// runtimeProcs is the Go runtime's own choice of GOMAXPROCS (the CPUs this process may
// use, cgroup CPU limits included), read before the agent changes it.
var runtimeProcs = runtime.GOMAXPROCS(0)

// procs is how many threads run the agent's Go code at once: agent.max_procs, or a quarter
// of the CPUs available to it (at least one). The agent shares the node with the workloads
// it guards, and fewer threads hand each statement's work between each other less. On this
// project's 2-core test machine (BenchmarkPgbenchSelect, two runs each) one thread instead
// of two took the agent's CPU per pgbench -S transaction from 50.0/51.1 to 37.9/39.0 us
// (simple protocol) and from 46.9/40.4 to 33.6/35.4 us (prepared), and its throughput
// relative to pgbouncer from 0.60/0.59 to 0.68/0.71 and 0.58/0.58 to 0.62/0.63.
// A GOMAXPROCS in the environment is the operator's explicit choice and wins; procs then
// returns 0.
func procs(cfg *Config) int {
	if os.Getenv("GOMAXPROCS") != "" {
		return 0
	}
	if n := cfg.Agent.MaxProcs; n > 0 {
		return n
	}
	return max(1, runtimeProcs/4)
}

// applyProcs sets GOMAXPROCS from the configuration (at start and on reload) and returns
// the value in force.
func applyProcs(cfg *Config) int {
	if n := procs(cfg); n > 0 {
		runtime.GOMAXPROCS(n)
	}
	return runtime.GOMAXPROCS(0)
}
