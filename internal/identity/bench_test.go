package identity

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

// BenchmarkContinue measures the per-statement identity check (Resolver.Continue for an
// enrolled cgroup four levels below its enrollment) side by side with a full verification of
// the same token (signature and claims, keys cached), and reports their ratio: the check runs
// before every statement, so it must cost a small fraction of verifying.
func BenchmarkContinue(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	job := testenv.Cgroup(b, "")
	o := originOf(b, mkcgroup(b, job, "a/b/c/d"))
	tok := f.token("job", time.Hour, nil)
	if _, err := f.r.Enroll(ctx, cgroup.Name(job), tok); err != nil {
		b.Fatal(err)
	}
	cur, err := f.r.Identity(ctx, o)
	if err != nil {
		b.Fatal(err)
	}
	const rounds = 7
	var cont, verify time.Duration
	var ratios []float64
	per := max(b.N/rounds, 1)
	b.ResetTimer()
	for range rounds {
		start := time.Now()
		for range per {
			if _, err := f.r.Continue(ctx, o, cur); err != nil {
				b.Fatal(err)
			}
		}
		c := time.Since(start)
		start = time.Now()
		for range max(per/100, 1) { // verification is far slower; fewer runs, scaled below
			if _, err := f.r.verifier.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
		v := time.Since(start) * time.Duration(per) / time.Duration(max(per/100, 1))
		cont += c
		verify += v
		ratios = append(ratios, float64(v)/float64(c))
	}
	slices.Sort(ratios)
	n := float64(per * rounds)
	b.ReportMetric(float64(cont.Nanoseconds())/n, "ns/continue")
	b.ReportMetric(float64(verify.Nanoseconds())/n, "ns/verify")
	b.ReportMetric(ratios[rounds/2], "verify/continue")
}
