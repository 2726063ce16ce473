package sqlparse

import (
	"context"
	"slices"
	"testing"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"
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
			const rounds = 10
			n := max(b.N/rounds, 1)
			var it, wt time.Duration
			ratios := make([]float64, 0, rounds)
			for range rounds {
				i := timeN(n, inproc)
				w := timeN(n, worker)
				it += i
				wt += w
				ratios = append(ratios, float64(w)/float64(i))
			}
			total := float64(n * rounds)
			b.ReportMetric(float64(it.Nanoseconds())/total, "ns/inprocess")
			b.ReportMetric(float64(wt.Nanoseconds())/total, "ns/worker")
			slices.Sort(ratios)
			b.ReportMetric((ratios[rounds/2-1]+ratios[rounds/2])/2, "worker/inprocess")
		})
	}
}

func timeN(n int, f func()) time.Duration {
	start := time.Now()
	for range n {
		f()
	}
	return time.Since(start)
}
