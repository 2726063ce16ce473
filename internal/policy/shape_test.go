package policy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

func TestShapeOf(t *testing.T) {
	for _, tc := range []struct{ sql, want string }{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 12345;", "SELECT abalance FROM pgbench_accounts WHERE aid = $;"},
		{"select * from t2 where c1=-7 and c2 in (1,22,333)", "select * from t2 where c1=-$ and c2 in ($,$,$)"},
		{"SELECT 'a1''2', x FROM t LIMIT 10", "SELECT 'a1''2', x FROM t LIMIT $"},
		{"SELECT E'no escapes 5', date '2024-01-01' + 3", "SELECT E'no escapes 5', date '2024-01-01' + $"},
		{"SELECT a ? 'k' FROM j", "SELECT a ? 'k' FROM j"},
		{"SELECT jsonb_path_query(doc, '$.a[1]') FROM docs WHERE id = 1", "SELECT jsonb_path_query(doc, '$.a[1]') FROM docs WHERE id = $"},
		{"SELECT 'naïve' || 1", "SELECT 'naïve' || $"},
		// Refused: anything whose lexing this scan does not mirror exactly.
		{"SELECT 2147483647, 02147483647", "SELECT $, $"},
		{"SELECT 2147483648", ""},
		{"FETCH 99999999999 FROM c", ""},
		{"SELECT 1.5", ""},
		{"SELECT .5", ""},
		{"SELECT 1e5", ""},
		{"SELECT 0x1f", ""},
		{"SELECT 1_000", ""},
		{"SELECT t.1 FROM t", ""},
		{"SELECT 1 -- 2", ""},
		{"SELECT /* 3 */ 1", ""},
		{`SELECT "c1" FROM t`, ""},
		{"SELECT $1", ""},
		{"SELECT $$1$$", ""},
		{`SELECT 'a\' || 1 || '`, ""},
		{"SELECT 'unterminated 1", ""},
		{"SELECT naïve FROM t WHERE a = 1", ""},
		{"SELECT 1\x00", ""},
	} {
		got, _, ok := shapeOf(tc.sql)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("shapeOf(%q) = %q, %v; want %q", tc.sql, got, ok, tc.want)
		}
	}
}

// shapeVariants are statements of the same shape with other integer values, from zero to
// the largest int4.
func shapeVariants(shape string) []string {
	var out []string
	for _, n := range []string{"0", "7", "0000000000042", "2147483647"} {
		var b strings.Builder
		quoted := false
		for _, c := range []byte(shape) {
			switch {
			case c == '\'':
				quoted = !quoted
			case c == shapeMark && !quoted:
				b.WriteString(n)
				continue
			}
			b.WriteByte(c)
		}
		out = append(out, b.String())
	}
	return out
}

// withoutText is what a classification says about a statement, without the statements'
// own texts and the offsets of their constants: the parts that legitimately differ between
// statements of one shape.
func withoutText(c *classify.Classification) classify.Classification {
	out := classify.Classification{Fingerprint: c.Fingerprint, Err: c.Err}
	out.Statements = append([]classify.Statement(nil), c.Statements...)
	for i := range out.Statements {
		out.Statements[i].Text = ""
	}
	return out
}

// The shape cache is sound only if PostgreSQL's own parser agrees: for every statement of
// the corpus (and some chosen to tempt the scan), each variant of a ValueFree statement
// classifies exactly like the original, fingerprint included, and gets the decision a
// fresh engine makes for it. Statements that read constant values are decided by text.
func TestShapeSharesOnlyValueFreeDecisions(t *testing.T) {
	e := engine(t)
	rs, err := LoadFile("testdata/corpus.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fresh := freshEngine(t, rs)
	rows := append([]corpusRow(nil), corpus...)
	for _, sql := range []string{
		"SELECT * FROM t ORDER BY 1 LIMIT 5 OFFSET 10",
		"SELECT 9223372036854775808, -1, 1-2, 3::int, 'a''1' || 2",
		"SELECT pg_terminate_backend(123), lo_unlink(1234), pg_sleep(1)",
		"SELECT 1; DROP TABLE orders",
		"SELECT * FROM t FETCH FIRST 5 ROWS ONLY",
		"BEGIN; DECLARE c CURSOR FOR SELECT 1; FETCH 5 FROM c; COMMIT",
		"SET statement_timeout = 5000",
		"SET lock_timeout = 0",
		"SELECT set_config('statement_timeout', '0', false), 1",
		"ALTER TABLE orders ALTER COLUMN note TYPE varchar(20)",
		"SELECT 1 FROM generate_series(1, 100000000)",
		"SELECT -5, - 6, 1-2, -(-3), +4 FROM t",
		"CREATE SEQUENCE s CACHE 5",
		"SELECT interval '1' day, x FROM t ORDER BY 2",
		"MOVE 3 IN c",
	} {
		rows = append(rows, corpusRow{who: "ci", sql: sql})
	}
	shaped, valueFree := 0, 0
	for _, row := range rows {
		shape, ints, ok := shapeOf(row.sql)
		if !ok {
			continue
		}
		shaped++
		id := identities[row.who]
		orig := e.Classify(ctx(), row.sql)
		first := e.Decide(ctx(), id, row.sql)
		for _, v := range shapeVariants(shape) {
			if v == row.sql {
				continue
			}
			if s, _, ok := shapeOf(v); !ok || s != shape {
				t.Fatalf("variant %q of %q has shape %q, want %q", v, row.sql, s, shape)
			}
			got := e.Decide(ctx(), id, v)
			want := fresh.Decide(ctx(), id, v)
			if got.Action != want.Action || got.Rule != want.Rule || got.Fingerprint != want.Fingerprint {
				t.Errorf("%q after %q: decided %s by %s (%s), a fresh engine says %s by %s (%s)",
					v, row.sql, got.Action, got.Rule, got.Fingerprint, want.Action, want.Rule, want.Fingerprint)
			}
			if !sameShapeHolds(orig, ints) {
				if got.Classification == first.Classification {
					t.Errorf("%q is not of one shape with %q but was decided from it", v, row.sql)
				}
				continue
			}
			vc := fresh.Classify(ctx(), v)
			if a, b := withoutText(orig), withoutText(vc); !reflect.DeepEqual(a, b) {
				t.Errorf("same shape, different classification:\n%q: %+v\n%q: %+v", row.sql, a, v, b)
			}
		}
		if sameShapeHolds(orig, ints) {
			valueFree++
		}
	}
	t.Logf("%d of %d statements have a shape, %d of them value-free", shaped, len(rows), valueFree)
	if shaped < 100 || valueFree < 80 {
		t.Errorf("only %d shaped, %d value-free: the test no longer exercises the cache", shaped, valueFree)
	}
}
