package policy

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/policy/classify"
	"github.com/sluicehq/sluice/internal/testenv"
)

// benchStatements are decided in BenchmarkDecide. A sql with a %d gets a new integer on
// every call, like pgbench -M simple sends: its hits come from the shape cache.
var benchStatements = []struct{ name, sql string }{
	{"select1", "SELECT 1"},
	{"inline-literal", "SELECT abalance FROM pgbench_accounts WHERE aid = %d;"},
	{"join200", "SELECT u.id, u.email, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND o.status IN ('paid','shipped') ORDER BY o.total DESC LIMIT 50"},
	{"update", "UPDATE orders SET total = $1, updated_at = now() WHERE id = $2"},
	{"ddl", "CREATE TABLE IF NOT EXISTS accounts (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, balance numeric(12,2) DEFAULT 0 CHECK (balance >= 0), created_at timestamptz NOT NULL DEFAULT now())"},
}

// BenchmarkDecide measures, per statement and side by side in one run, a decision served
// from the cache and a cold one (parse in a worker, classify, evaluate the corpus rules).
// Rounds alternate between the two so machine noise hits both; the median ratio is
// reported as cold/hit.
func BenchmarkDecide(b *testing.B) {
	e := engine(b)
	id := identities["ci"]
	st := e.state.Load()
	for _, s := range benchStatements {
		b.Run(s.name, func(b *testing.B) {
			i := 0
			text := func() string {
				if !strings.Contains(s.sql, "%d") {
					return s.sql
				}
				i++
				return fmt.Sprintf(s.sql, i)
			}
			cold := func() {
				sql := text()
				res, err := e.parser.Parse(ctx(), sql)
				if err != nil {
					b.Fatal(err)
				}
				c := classify.Classify(sql, res)
				st.rules.decide(&id, c, ^classify.Flag(0), st.rules.Default)
			}
			hit := func() { e.Decide(ctx(), id, text()) }
			hit()
			testenv.SideBySide(b, "hit", hit, "cold", cold)
		})
	}
}
