package policy

import (
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/policy/classify"
	"github.com/sluicehq/sluice/internal/sqlshape"
)

// shapeVariants are statements of the same shape with other integer values, from zero to
// the largest int4.
func shapeVariants(shape string) []string {
	var out []string
	for _, n := range []string{"0", "7", "0000000000042", "2147483647"} {
		out = append(out, sqlshape.With(shape, n))
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
		shape, ints, ok := sqlshape.Of(row.sql)
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
			if s, _, ok := sqlshape.Of(v); !ok || s != shape {
				t.Fatalf("variant %q of %q has shape %q, want %q", v, row.sql, s, shape)
			}
			got := e.Decide(ctx(), id, v)
			want := fresh.Decide(ctx(), id, v)
			if got.Action != want.Action || got.Rule != want.Rule || got.Fingerprint != want.Fingerprint {
				t.Errorf("%q after %q: decided %s by %s (%s), a fresh engine says %s by %s (%s)",
					v, row.sql, got.Action, got.Rule, got.Fingerprint, want.Action, want.Rule, want.Fingerprint)
			}
			if !sameShape(orig, ints) {
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
		if sameShape(orig, ints) {
			valueFree++
		}
	}
	t.Logf("%d of %d statements have a shape, %d of them value-free", shaped, len(rows), valueFree)
	if shaped < 100 || valueFree < 80 {
		t.Errorf("only %d shaped, %d value-free: the test no longer exercises the cache", shaped, valueFree)
	}
}
