package sqlshape

import (
	"testing"

	pg "github.com/pganalyze/pg_query_go/v6"
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
		got, _, ok := Of(tc.sql)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("Of(%q) = %q, %v; want %q", tc.sql, got, ok, tc.want)
		}
	}
}

// Holds compares the scan's integers with the parser's constants: a FETCH count or a
// sequence's CACHE is structure, a negated constant is reported at its minus sign.
func TestHolds(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT * FROM t WHERE a = 1 AND b IN (2, -3) LIMIT 4": true,
		"SELECT - 5, 1-2, -(-3) FROM t":                        false, // -(-3): the outer minus
		"SELECT - 5, 1-2 FROM t":                               true,
		"FETCH 5 FROM c":                                       false,
		"CREATE SEQUENCE s CACHE 5":                            false,
		"SELECT x FROM t ORDER BY 1":                           true, // a constant; what it means is the caller's
	} {
		_, ints, ok := Of(sql)
		if !ok {
			t.Fatalf("%q not shaped", sql)
		}
		tree, err := pg.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := Holds(ints, tree); got != want {
			t.Errorf("Holds(%q) = %v, want %v (constants at %v, integers %v)", sql, got, want, IntConstants(tree), ints)
		}
	}
}
