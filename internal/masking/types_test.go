package masking

import (
	"bytes"
	"strings"
	"testing"
)

// TestStrategiesKeepValuesValid masks one column of each type family with each strategy,
// in text and in binary, and decodes every masked value as a client would (pgtype): a
// value that does not decode fails the test (wire.checkValid). It also pins the shapes.
func TestStrategiesKeepValuesValid(t *testing.T) {
	f := newFixture(t, typedSchema, typedRules)
	w := f.open(t)
	for _, format := range []int16{0, 1} {
		for _, table := range []string{"typed_hash", "typed_partial", "typed_redact"} {
			w.received = nil
			r := w.extended("SELECT * FROM "+table, format)
			if r.denied != nil || len(r.errors) > 0 || len(r.rows) != 1 {
				t.Fatalf("%s format %d: %s", table, format, r)
			}
			for _, raw := range []string{"a0eebc99", "deadbeef", "abcdefgh", "wxyz", "C-0042", "plain text", "12345678", "9876543210", "1999-12-31", "gone", "Ünïcödé"} {
				if bytes.Contains(w.received, []byte(raw)) {
					t.Errorf("%s format %d: %q reached the client:\n%s", table, format, raw, r)
				}
			}
		}
	}
	r := w.query("SELECT i4, i8, n, v8, t FROM typed_partial")
	want := []string{"10000078", "-9000000010", "4000.0011", "aXXXXXgh", "ÜXXXXXXXXXXXng"}
	for i, wv := range want {
		if got, _ := r.cell(0, i); got != wv {
			t.Errorf("partial column %d: got %q, want %q", i, got, wv)
		}
	}
	r = w.query("SELECT d, i4, u, t FROM typed_redact")
	if d, _ := r.cell(0, 0); d != "2000-01-01" {
		t.Errorf("redact date: %q", d)
	}
	if i, _ := r.cell(0, 1); i != "0" {
		t.Errorf("redact int: %q", i)
	}
	if r.rows[0][2] != nil || r.rows[0][3] != nil {
		t.Errorf("redact NULL: %s", r)
	}
	// Hashes are deterministic: equal inputs, equal outputs, in both formats for strings.
	a := w.query("SELECT t, v8, c4 FROM typed_hash")
	b := w.extended("SELECT t, v8, c4 FROM typed_hash", 1)
	for i := range 3 {
		x, _ := a.cell(0, i)
		y, _ := b.cell(0, i)
		if x != y || x == "" {
			t.Errorf("hash column %d: text %q, binary %q", i, x, y)
		}
	}
	if v8, _ := a.cell(0, 1); len(v8) != 8 {
		t.Errorf("hash of a varchar(8) is %q: longer than the type allows", v8)
	}
	if c4, _ := a.cell(0, 2); len(c4) != 4 {
		t.Errorf("hash of a char(4) is %q", c4)
	}
	h := w.query("SELECT u, i2, i4, i8, jb FROM typed_hash")
	if u, _ := h.cell(0, 0); len(u) != 36 || u[14] != '8' {
		t.Errorf("hashed uuid %q: want a version-8 UUID", u)
	}
	if jb, _ := h.cell(0, 4); !strings.HasPrefix(jb, `"`) {
		t.Errorf("hashed jsonb %q: want a JSON string", jb)
	}
}

// TestUnsupportedStrategyRefused: a strategy that cannot produce a valid value of a
// column's type refuses the statement with a message saying so, rather than sending an
// invalid value.
func TestUnsupportedStrategyRefused(t *testing.T) {
	f := newFixture(t, typedSchema, `
rules:
  - name: email-on-date
    columns: ["public.typed_redact.d"]
    strategy: email
  - name: bad-value
    columns: ["public.typed_redact.i4"]
    strategy: redact
    value: "not a number"
`)
	w := f.open(t)
	for _, c := range []struct{ sql, rule string }{
		{"SELECT d FROM typed_redact", "email-on-date"},
		{"SELECT i4 FROM typed_redact", "bad-value"},
	} {
		r := w.query(c.sql)
		if r.denied == nil || r.denied.Rule != c.rule {
			t.Errorf("%s: got %s, want refused by %s", c.sql, r, c.rule)
		}
	}
}
