package masking

import (
	"context"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/internal/masking/catalog"
	"github.com/sluicehq/sluice/internal/sqlshape"
)

// shapeVariants are texts of sql's shape with other integers (marks inside string literals
// are the literal's own and stay).
func shapeVariants(shape string) []string {
	var out []string
	for _, n := range []string{"0", "2", "0000000042", "2147483647"} {
		out = append(out, sqlshape.With(shape, n))
	}
	return out
}

// A plan shared by shape must be the plan its own text would get. For every statement of
// the leak corpus (and a few chosen to tempt the sharing: ORDER BY positions, FETCH
// counts), each variant is planned by an engine that planned the original first and by
// a fresh engine; verdicts and every statement's lineage must agree.
func TestShapeSharedPlansMatchFreshOnes(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	ctx := context.Background()
	cat := catalog.New(connect(f.pg), catalog.Options{})
	t.Cleanup(func() { cat.Close() })
	fresh := func(sql string) *queryPlan {
		e, err := New(f.engine.opts)
		if err != nil {
			t.Fatal(err)
		}
		st := e.state.Load()
		return e.plan(ctx, st, e.target(st, cat), sql, st.rules.cleared([]string{"developers"}))
	}
	st := f.engine.state.Load()
	tgt := f.engine.target(st, cat)
	cleared := st.rules.cleared([]string{"developers"})
	texts := []string{
		"SELECT ssn, name FROM customers ORDER BY 1",
		"SELECT name, ssn FROM customers ORDER BY 2 DESC LIMIT 1",
		"SELECT name FROM customers WHERE id = 1 ORDER BY 1",
		"BEGIN; DECLARE c9 CURSOR FOR SELECT * FROM customers; FETCH 2 FROM c9; COMMIT",
	}
	for _, c := range leakCorpus {
		texts = append(texts, c.sql)
	}
	shared := 0
	for _, sql := range texts {
		shape, _, ok := sqlshape.Of(sql)
		if !ok {
			continue
		}
		orig := f.engine.plan(ctx, st, tgt, sql, cleared)
		for _, v := range shapeVariants(shape) {
			if v == sql {
				continue
			}
			got := f.engine.plan(ctx, st, tgt, v, cleared)
			want := fresh(v)
			if got == orig {
				shared++
			}
			if got.Verdict.Deny != want.Verdict.Deny || got.Verdict.Rule != want.Verdict.Rule ||
				!reflect.DeepEqual(got.Verdict.Masked, want.Verdict.Masked) || !reflect.DeepEqual(got.Verdict.Risks, want.Verdict.Risks) {
				t.Errorf("%q after %q: verdict %+v, its own plan's %+v", v, sql, got.Verdict, want.Verdict)
			}
			if len(got.stmts) != len(want.stmts) {
				t.Fatalf("%q: %d statements planned, its own plan has %d", v, len(got.stmts), len(want.stmts))
			}
			for i := range got.stmts {
				if g, w := got.stmts[i], want.stmts[i]; g.sensitive != w.sensitive || !reflect.DeepEqual(g.res, w.res) {
					t.Errorf("%q after %q, statement %d: lineage %+v, its own %+v", v, sql, i, g.res, w.res)
				}
			}
		}
	}
	t.Logf("%d variants served a plan shared by shape", shared)
	if shared < 40 {
		t.Errorf("only %d variants shared a plan: the test no longer exercises the sharing", shared)
	}
}
