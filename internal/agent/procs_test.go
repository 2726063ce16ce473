package agent

import "testing"

func TestProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "")
	cfg := &Config{}
	if got, want := procs(cfg), max(1, runtimeProcs/4); got != want {
		t.Errorf("default: %d, want %d", got, want)
	}
	cfg.Agent.MaxProcs = 3
	if got := procs(cfg); got != 3 {
		t.Errorf("max_procs 3: %d", got)
	}
	t.Setenv("GOMAXPROCS", "2")
	if got := procs(cfg); got != 0 {
		t.Errorf("with GOMAXPROCS set: %d, want 0 (the environment wins)", got)
	}
}
