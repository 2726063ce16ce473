package policy

import (
	"context"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/policy/sqlparse"
)

var (
	sharedOnce   sync.Once
	sharedEngine *Engine
	sharedErr    error
)

// engine returns one Engine for the package's tests, under the corpus policy: starting
// parser workers per test would only slow the suite down.
func engine(t testing.TB) *Engine {
	t.Helper()
	sharedOnce.Do(func() {
		rs, err := LoadFile("testdata/corpus.yaml")
		if err != nil {
			sharedErr = err
			return
		}
		sharedEngine, sharedErr = New(Options{Rules: rs, Parser: sqlparse.Options{Workers: 2}})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedEngine
}

// freshEngine is an Engine of its own, for tests that change rules or break workers.
func freshEngine(t testing.TB, rs *RuleSet) *Engine {
	t.Helper()
	e, err := New(Options{Rules: rs, Parser: sqlparse.Options{Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

var identities = map[string]Identity{
	"":          NewIdentity("https://issuer.test", "repo:acme/app:ref:main", nil),
	"ci":        NewIdentity("https://issuer.test", "repo:acme/app:ci", []string{"ci"}),
	"dba":       NewIdentity("https://issuer.test", "alice", []string{"dba"}),
	"deployers": NewIdentity("https://issuer.test", "deploy-bot", []string{"deployers"}),
	"analytics": NewIdentity("https://issuer.test", "report-job", []string{"analytics"}),
}

// effectiveRule is the rule a client or auditor would be shown: for a statement that runs
// with warnings, the first warning's rule.
func effectiveRule(d Decision) string {
	if d.Action == Warn {
		return d.Warnings[0].Rule
	}
	return d.Rule
}

func ctx() context.Context { return context.Background() }
