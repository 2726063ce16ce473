package masking

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/masking/detect"
	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Rules to start with (default: none, which masks nothing and costs nothing).
	Rules *RuleSet
	// Parser parses statements and view definitions; required when Rules has rules.
	Parser Parser
	// HashKey is the node secret of the hash strategy (at least 32 bytes); required when a
	// rule hashes. Nodes that share it produce the same hashes.
	HashKey []byte
	// CacheEntries bounds each target's plan cache (default 10,000).
	CacheEntries int
	// MaxCachedBytes: longer statements are planned every time rather than cached
	// (default 16 KiB).
	MaxCachedBytes int
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Engine decides, per statement and identity, what masking requires, and masks results.
// It is safe for concurrent use; sessions are not shared between connections.
type Engine struct {
	opts  Options
	state atomic.Pointer[engineState]
}

// engineState pairs a rule set with everything derived from it, so a reload swaps them at
// once and no plan outlives the rules that made it.
type engineState struct {
	rules    *RuleSet
	detector *detect.Detector
	key      []byte

	mu      sync.Mutex
	targets map[catalog.Catalog]*targetState
}

// targetState is what is learned about one database target under one rule set.
type targetState struct {
	res   *resolver
	plans *lru.Cache[planKey, *queryPlan]
}

type planKey struct {
	sql     string
	shape   bool // sql is a shape (internal/sqlshape), not a statement's text
	cleared lineage.Set
	gen     uint64 // the catalog's generation: plans depend on what it said
}

// New returns an Engine.
func New(opts Options) (*Engine, error) {
	if opts.Rules == nil {
		opts.Rules = &RuleSet{Source: "none"}
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 10000
	}
	if opts.MaxCachedBytes <= 0 {
		opts.MaxCachedBytes = 16 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	e := &Engine{opts: opts}
	if err := e.SetRules(opts.Rules); err != nil {
		return nil, err
	}
	return e, nil
}

// SetRules replaces the rule set (on reload). Sessions use the new rules from their next
// statement on; plans made under the old rules are forgotten.
func (e *Engine) SetRules(rs *RuleSet) error {
	if len(rs.Rules) > 0 && e.opts.Parser == nil {
		return errors.New("masking: a parser is required when there are rules")
	}
	for _, r := range rs.Rules {
		if r.Strategy == Hash && len(e.opts.HashKey) < 32 {
			return fmt.Errorf("masking: rule %s hashes, which needs a hash key of at least 32 bytes", r.Name)
		}
	}
	e.state.Store(&engineState{
		rules:    rs,
		detector: detect.New(rs.Detectors...),
		key:      e.opts.HashKey,
		targets:  map[catalog.Catalog]*targetState{},
	})
	e.opts.Logger.Info("masking: rules loaded", "source", rs.Source, "rules", len(rs.Rules))
	return nil
}

// Rules returns the rule set in force.
func (e *Engine) Rules() *RuleSet { return e.state.Load().rules }

// target returns the state for a catalog under the current rules.
func (e *Engine) target(st *engineState, cat catalog.Catalog) *targetState {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.targets[cat]
	if !ok {
		plans, _ := lru.New[planKey, *queryPlan](e.opts.CacheEntries)
		t = &targetState{res: newResolver(cat, st.rules, e.opts.Parser, e.opts.Logger), plans: plans}
		st.targets[cat] = t
	}
	return t
}
