package sqlparse

import (
	"context"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkParse compares, side by side in one run, parsing in this process with the cgo
// library (what the worker isolation replaces) and parsing through a worker process (pipe
// round trip included). The median of alternating rounds is reported as worker/inprocess.
func BenchmarkParse(b *testing.B) {
	p, err := New(Options{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, s := range []struct{ name, sql string }{
		{"select1", "SELECT 1"},
		{"join200", "SELECT u.id, u.email, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.created_at > now() - interval '7 days' AND o.status IN ('paid','shipped') ORDER BY o.total DESC LIMIT 50"},
	} {
		b.Run(s.name, func(b *testing.B) {
			inproc := func() {
				if _, err := pg.Parse(s.sql); err != nil {
					b.Fatal(err)
				}
				if _, err := pg.FingerprintToUInt64(s.sql); err != nil {
					b.Fatal(err)
				}
			}
			worker := func() {
				if _, err := p.Parse(context.Background(), s.sql); err != nil {
					b.Fatal(err)
				}
			}
			testenv.SideBySide(b, "inprocess", inproc, "worker", worker)
		})
	}
}
