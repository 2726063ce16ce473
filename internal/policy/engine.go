package policy

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/sluicehq/sluice/internal/policy/classify"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
	"github.com/sluicehq/sluice/internal/sqlshape"
)

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Rules to start with (default: DefaultRules()).
	Rules *RuleSet
	// Parser bounds parsing: workers, size, time and memory per statement.
	Parser sqlparse.Options
	// CacheEntries bounds each of the two caches (classifications by text; decisions by
	// identity and text). Default 10,000.
	CacheEntries int
	// MaxCachedBytes: longer statements are classified every time rather than cached, which
	// bounds the caches' memory to about CacheEntries x MaxCachedBytes (default 16 KiB).
	MaxCachedBytes int
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Engine classifies statements and decides on them. It is safe for concurrent use.
type Engine struct {
	parser   *sqlparse.Parser
	classes  *lru.Cache[string, *classify.Classification]
	state    atomic.Pointer[ruleState]
	entries  int
	maxBytes int
	log      *slog.Logger
}

// ruleState pairs a rule set with the decisions made under it, so a reload swaps both at
// once and no decision outlives the rules that made it. Decisions are cached by exact text,
// and by shape (internal/sqlshape) for statements whose classification is ValueFree.
type ruleState struct {
	rules     *RuleSet
	decisions *lru.Cache[decisionKey, Decision]
	shapes    *lru.Cache[decisionKey, Decision]
}

type decisionKey struct {
	identity    string
	sql         string
	lockTimeout bool
}

// New starts an Engine, including its parser workers.
func New(opts Options) (*Engine, error) {
	if opts.Rules == nil {
		opts.Rules = DefaultRules()
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
	if opts.Parser.Logger == nil {
		opts.Parser.Logger = opts.Logger
	}
	parser, err := sqlparse.New(opts.Parser)
	if err != nil {
		return nil, err
	}
	classes, err := lru.New[string, *classify.Classification](opts.CacheEntries)
	if err != nil {
		parser.Close()
		return nil, err
	}
	e := &Engine{parser: parser, classes: classes, entries: opts.CacheEntries, maxBytes: opts.MaxCachedBytes, log: opts.Logger}
	e.SetRules(opts.Rules)
	return e, nil
}

// Close stops the parser workers. Decisions after Close deny everything not cached.
func (e *Engine) Close() { e.parser.Close() }

// SetRules replaces the rule set (on reload) and forgets decisions made under the old one.
// Classifications stay cached: they do not depend on rules.
func (e *Engine) SetRules(rs *RuleSet) {
	decisions, _ := lru.New[decisionKey, Decision](e.entries)
	shapes, _ := lru.New[decisionKey, Decision](e.entries)
	e.state.Store(&ruleState{rules: rs, decisions: decisions, shapes: shapes})
	e.log.Info("policy: rules loaded", "source", rs.Source, "rules", len(rs.Rules), "default", rs.Default)
}

// Rules returns the rule set in force.
func (e *Engine) Rules() *RuleSet { return e.state.Load().rules }

// Decide decides on a query string (a simple Query message, or the text of a Parse
// message) sent by id, outside any session knowledge.
func (e *Engine) Decide(ctx context.Context, id Identity, sql string) Decision {
	return e.DecideInSession(ctx, id, Session{}, sql)
}

// DecideInSession decides on a query string sent by id in a session in state s.
func (e *Engine) DecideInSession(ctx context.Context, id Identity, s Session, sql string) Decision {
	st := e.state.Load()
	cacheable := len(sql) <= e.maxBytes
	key := decisionKey{identity: id.Key(), sql: sql, lockTimeout: s.LockTimeout}
	shapeKey := key
	var (
		shaped bool
		ints   []sqlshape.Int
	)
	if cacheable {
		if d, ok := st.decisions.Get(key); ok {
			return d
		}
		if shapeKey.sql, ints, shaped = sqlshape.Of(sql); shaped {
			if d, ok := st.shapes.Get(shapeKey); ok {
				return d
			}
		}
	}
	c, stable := e.classify(ctx, sql)
	mask := ^classify.Flag(0)
	if s.LockTimeout {
		mask &^= classify.FlagNoLockTimeout
	}
	d := st.rules.decide(&id, c, mask, st.rules.Default)
	switch {
	case !cacheable || !stable:
	case shaped && sameShape(c, ints):
		st.shapes.Add(shapeKey, d)
	default:
		st.decisions.Add(key, d)
	}
	return d
}

// Classify returns the classification of a query string, from the cache when possible.
func (e *Engine) Classify(ctx context.Context, sql string) *classify.Classification {
	c, _ := e.classify(ctx, sql)
	return c
}

// classify reports whether the result is stable: a parser failure (crash, timeout,
// cancellation) may not recur, so it is neither cached nor allowed to be.
func (e *Engine) classify(ctx context.Context, sql string) (*classify.Classification, bool) {
	cacheable := len(sql) <= e.maxBytes
	if cacheable {
		if c, ok := e.classes.Get(sql); ok {
			return c, true
		}
	}
	res, err := e.parser.Parse(ctx, sql)
	if err != nil {
		c := classify.Unparsed(sql, err)
		stable := !transient(err)
		if cacheable && stable {
			e.classes.Add(sql, c)
		}
		return c, stable
	}
	c := classify.Classify(sql, res)
	if cacheable {
		e.classes.Add(sql, c)
	}
	return c, true
}

// sameShape reports whether a decision on c serves every statement of its text's shape:
// its classification read no constant's value, and every integer of the text is a
// constant value in the tree, not part of the statement's structure.
func sameShape(c *classify.Classification, ints []sqlshape.Int) bool {
	return c.ValueFree() && sqlshape.HoldsAt(ints, c.IntConstants())
}

func transient(err error) bool {
	return errors.Is(err, sqlparse.ErrParserFailed) || errors.Is(err, sqlparse.ErrParserStopped) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// DecideFunctionCall decides on a protocol FunctionCall message for the function oid.
// Such a call cannot be inspected; the default pack denies it.
func (e *Engine) DecideFunctionCall(id Identity, oid uint32) Decision {
	st := e.state.Load()
	return st.rules.decide(&id, classify.FunctionCall(oid), ^classify.Flag(0), st.rules.Default)
}
