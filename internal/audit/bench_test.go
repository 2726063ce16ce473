package audit

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend measures Append under the three sync policies side by side, on the
// machine's real disk (b.TempDir), with one appender (the latency a proxy session pays per
// statement) and with 16 (group commit at work). The policies run in alternating order in
// short rounds and the median per-round ratio is reported, which is far steadier on a
// noisy 2-core machine than one long run per policy. Metrics: ns/append per policy,
// throughput relative to SyncNone, and fsyncs per record.
//
//	go test -run '^$' -bench Append -benchtime 4000x ./internal/audit/
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) { benchPolicies(b, appenders) })
	}
}

func benchPolicies(b *testing.B, appenders int) {
	key := testKey(b)
	policies := []SyncPolicy{SyncNone, SyncBatched, SyncAlways}
	logs := map[SyncPolicy]*Log{}
	for _, p := range policies {
		logs[p] = openLog(b, filepath.Join(b.TempDir(), string(p)), key, func(o *Options) { o.Sync = p })
	}
	const rounds = 8
	per := max(b.N/rounds, appenders)
	total := map[SyncPolicy]time.Duration{}
	ratios := map[SyncPolicy][]float64{}
	b.ResetTimer()
	for r := range rounds {
		took := map[SyncPolicy]time.Duration{}
		for i := range policies {
			p := policies[(i+r)%len(policies)]
			took[p] = appendMany(b, logs[p], per, appenders)
			total[p] += took[p]
		}
		for _, p := range policies {
			ratios[p] = append(ratios[p], float64(took[SyncNone])/float64(took[p]))
		}
	}
	b.StopTimer()
	n := float64(rounds * (per / appenders * appenders))
	for _, p := range policies {
		st := logs[p].Stats()
		b.ReportMetric(float64(total[p].Nanoseconds())/n, "ns/append-"+string(p))
		if p != SyncNone {
			b.ReportMetric(median(ratios[p]), string(p)+"/none-throughput")
			b.ReportMetric(float64(st.Syncs)/float64(st.Records), "fsyncs/record-"+string(p))
		}
		if err := logs[p].Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// appendMany appends n statement records (a typical ~250-byte one) from appenders
// goroutines and returns how long that took.
func appendMany(b *testing.B, l *Log, n, appenders int) time.Duration {
	var wg sync.WaitGroup
	start := time.Now()
	for g := range appenders {
		wg.Go(func() {
			ev := &Statement{
				Session: fmt.Sprintf("bench-%d", g), Protocol: ProtocolExtended, Decision: DecisionAllow,
				Text:        "SELECT id, email, created_at FROM users WHERE org_id = $1 AND created_at > $2 ORDER BY id LIMIT 100",
				Fingerprint: "a1b2c3d4e5f60718", Class: ClassRead, Command: "SELECT", Rule: "read-app",
				Objects:    []Object{{Type: "table", Name: "public.users"}},
				Parameters: []Parameter{{Value: "42"}, {Value: "2024-01-01"}},
			}
			for i := range n / appenders {
				ev.Seq = uint64(i + 1)
				if err := l.Append(ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
