package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testenv"
)

// wideSchema is the benchmark's result: 1,000,000 rows of 10 columns (integers, text,
// numeric, a date), twice: "wide", whose ssn and email columns are masked, and
// "wide_clear", the same rows under no rule.
const wideSchema = testenv.WideTable + `CREATE TABLE wide_clear AS TABLE wide;
VACUUM ANALYZE wide;
VACUUM ANALYZE wide_clear;
`

const wideRules = `rules:
  - name: ssn
    columns: ["public.wide.ssn"]
    strategy: partial
    keep_last: 4
  - name: email
    columns: ["public.wide.email"]
    strategy: email
`

// noRules is a masking file without rules: sessions opened under it mask nothing and are
// not followed at all, exactly as with masking absent from the configuration.
const noRules = "rules: []\n"

// fetchSQLEnv is the statement the masking-fetch scenario reads.
const fetchSQLEnv = "SLUICE_E2E_FETCH_SQL"

func init() {
	pgxScenarios["masking-fetch"] = maskingFetch
}

// maskingFetch reads the whole result of one statement (extended protocol, text results)
// without decoding values, the cheapest a client can be, so that what the path costs shows.
// It prints "fetched ROWS BYTES NANOSECONDS MASKED", MASKED counting the rows whose ninth
// column (ssn) came back masked (a leading X).
func maskingFetch(ctx context.Context, c *pgx.Conn) []string {
	start := time.Now()
	rows, err := c.Query(ctx, os.Getenv(fetchSQLEnv))
	if err != nil {
		return []string{"err " + err.Error()}
	}
	n, size, masked := 0, 0, 0
	for rows.Next() {
		vals := rows.RawValues()
		for _, v := range vals {
			size += len(v)
		}
		if len(vals) > 8 && bytes.HasPrefix(vals[8], []byte("X")) {
			masked++
		}
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return []string{"err " + err.Error()}
	}
	return []string{fmt.Sprintf("fetched %d %d %d %d", n, size, time.Since(start).Nanoseconds(), masked)}
}

// fetchPath is one way for the client to read the result.
type fetchPath struct {
	name    string
	masking bool   // the agent runs with wideRules (else with none)
	sql     string // what the client reads
	direct  bool   // the client runs outside the enforced cgroup and reaches PostgreSQL itself
}

// fetchResult is what one fetch measured.
type fetchResult struct {
	wall time.Duration // from the query to its last row, in the client
	cpu  time.Duration // CPU time the agent (and its parser workers) used meanwhile
}

// BenchmarkMaskingResult measures what masking costs a large result (issue 7,
// acceptance 4): a pgx client reads 1,000,000 rows of 10 columns, 2 of them masked,
//
//	masked:        through sluice with masking on: SELECT * FROM wide (ssn and email masked)
//	unmasked:      through sluice with masking on, a statement touching no masked column:
//	               SELECT * FROM wide_clear (the same rows in a table no rule names)
//	disabled:      through sluice with masking disabled (a masking file without rules,
//	               loaded by SIGHUP): SELECT * FROM wide_clear
//	disabled-wide: the same, reading wide (the masked statement, with nothing to mask)
//	direct:        straight to PostgreSQL: SELECT * FROM wide_clear
//
// in interleaved rounds (disabled-wide, masked, unmasked, disabled, direct, then the
// reverse; masking switched by reloads), and prints medians of each path and the medians
// of the per-round ratios, which pair neighbouring runs: masked/unmasked (target <= 1.25)
// and unmasked/disabled (target <= 1.05), with masked/disabled-wide and disabled/direct for
// context. It also reports the CPU time the agent used per fetch: with client, agent and
// PostgreSQL sharing two cores, that is what masking costs, and it varies less than time.
//
//	go test -run '^$' -bench MaskingResult -benchtime 1x ./test/e2e/
//
// SLUICE_BENCH_ROUNDS (default 9) sets the number of rounds (about 6 s each here).
func BenchmarkMaskingResult(b *testing.B) {
	rounds := testenv.BenchSetting(b, "SLUICE_BENCH_ROUNDS", 9)
	w := newWorld(b)
	// The statement log that the functional tests read would add the same cost to every
	// path; the tables belong to the agent's login, which the direct path uses too.
	if err := w.db.Exec(b.Context(), "\\c app\nSET ROLE sluice_app;\n"+wideSchema+
		"RESET ROLE;\nALTER SYSTEM SET log_statement = 'none';\nSELECT pg_reload_conf();"); err != nil {
		b.Fatal(err)
	}
	w.configureMasking(wideRules)
	w.startAgent()
	cg := w.enforced("bench-job")
	maskingOn := true
	setMasking := func(on bool) {
		if on == maskingOn {
			return
		}
		rules := noRules
		if on {
			rules = wideRules
		}
		w.reloadMasking(rules)
		maskingOn = on
	}
	// In the order the rounds run them: each ratio below compares neighbours.
	paths := []fetchPath{
		{name: "disabled-wide", sql: "SELECT * FROM wide"},
		{name: "masked", masking: true, sql: "SELECT * FROM wide"},
		{name: "unmasked", masking: true, sql: "SELECT * FROM wide_clear"},
		{name: "disabled", sql: "SELECT * FROM wide_clear"},
		{name: "direct", sql: "SELECT * FROM wide_clear", direct: true},
	}
	run := func(i int) fetchResult {
		p := paths[i]
		setMasking(p.masking)
		cmd := exec.Command(os.Args[0])
		dsn := "postgres://workload:" + workloadPassword + "@" + w.dbAddr + "/app?sslmode=disable"
		if p.direct {
			dsn = "postgres://sluice_app:" + agentPassword + "@" + w.dbAddr + "/app?sslmode=disable"
		}
		cmd.Env = append(os.Environ(), clientEnv+"=masking-fetch", fetchSQLEnv+"="+p.sql, "SLUICE_E2E_DSN="+dsn)
		agent := w.agent.cmd.Process.Pid
		cpu := testenv.ProcessTreeCPU(b, agent)
		var out []byte
		var err error
		if p.direct {
			out, err = cmd.CombinedOutput()
		} else {
			out, err = testenv.Output(cg, cmd)
		}
		cpu = testenv.ProcessTreeCPU(b, agent) - cpu
		f := strings.Fields(string(out))
		if err != nil || len(f) != 5 || f[0] != "fetched" {
			b.Fatalf("%s: %v\n%s", p.name, err, out)
		}
		rows, _ := strconv.Atoi(f[1])
		ns, _ := strconv.ParseInt(f[3], 10, 64)
		masked, _ := strconv.Atoi(f[4])
		wantMasked := 0
		if p.name == "masked" {
			wantMasked = 1000000
		}
		if rows != 1000000 || masked != wantMasked {
			b.Fatalf("%s: %d rows, %d masked; want 1000000 rows, %d masked", p.name, rows, masked, wantMasked)
		}
		return fetchResult{wall: time.Duration(ns), cpu: cpu}
	}
	// One discarded fetch per path warms PostgreSQL's buffers, the plans and the catalog.
	for i := range paths {
		run(i)
	}
	b.ResetTimer()

	var results [][]fetchResult // round -> path
	for range b.N {
		for r := range rounds {
			// Forwards, then backwards: the paths each ratio compares run next to each
			// other, neither always first.
			round := make([]fetchResult, len(paths))
			for k := range paths {
				i := k
				if r%2 == 1 {
					i = len(paths) - 1 - k
				}
				round[i] = run(i)
			}
			results = append(results, round)
		}
	}
	b.StopTimer()

	index := map[string]int{}
	for i, p := range paths {
		index[p.name] = i
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n1,000,000 rows x 10 columns (2 masked), pgx text results, %d rounds (medians)\n", len(results))
	fmt.Fprintf(&table, "%-28s %10s %16s\n", "path", "ms", "agent CPU ms")
	for i, p := range paths {
		wall := testenv.Median(results, func(r []fetchResult) float64 { return r[i].wall.Seconds() * 1000 })
		cpu := testenv.Median(results, func(r []fetchResult) float64 { return r[i].cpu.Seconds() * 1000 })
		fmt.Fprintf(&table, "%-28s %10.0f %16.0f\n", p.name, wall, cpu)
		b.ReportMetric(wall, "ms-"+p.name)
	}
	// The targets bound the time ratio; the CPU one is context.
	fmt.Fprintf(&table, "%-28s %10s %16s %12s\n", "ratio", "time", "agent CPU", "time target")
	for _, rt := range []struct {
		x, y   string
		target string
	}{{"masked", "unmasked", "<= 1.25"}, {"unmasked", "disabled", "<= 1.05"}, {"masked", "disabled-wide", ""}, {"disabled", "direct", ""}} {
		x, y := index[rt.x], index[rt.y]
		wall := testenv.Median(results, func(r []fetchResult) float64 { return r[x].wall.Seconds() / r[y].wall.Seconds() })
		name := rt.x + "/" + rt.y
		fmt.Fprintf(&table, "%-28s %10.3f", name, wall)
		b.ReportMetric(wall, name)
		if paths[y].direct {
			fmt.Fprintf(&table, " %16s", "-")
		} else {
			cpu := testenv.Median(results, func(r []fetchResult) float64 { return r[x].cpu.Seconds() / r[y].cpu.Seconds() })
			fmt.Fprintf(&table, " %16.3f", cpu)
			b.ReportMetric(cpu, name+"-cpu")
		}
		fmt.Fprintf(&table, " %12s\n", rt.target)
	}
	// Printed rather than logged: benchmark logs are cut after ten lines.
	fmt.Print(table.String())
}

// reloadMasking replaces the agent's masking rules and reloads its configuration
// (SIGHUP), waiting until the reload is done: sessions opened from then on use them.
func (w *world) reloadMasking(rules string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, "masking.yaml"), []byte(rules), 0o600); err != nil {
		w.t.Fatal(err)
	}
	const done = "configuration reloaded"
	before := strings.Count(w.agent.out.String(), done)
	if err := w.agent.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		w.t.Fatal(err)
	}
	waitFor(w.t, "the agent's reload", func() bool { return strings.Count(w.agent.out.String(), done) > before })
}
