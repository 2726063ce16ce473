package masking

import (
	"strings"
	"testing"
)

func TestParseRules(t *testing.T) {
	rs, err := Parse("m.yaml", []byte(seedRules))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rs.Rules); n != 8 {
		t.Fatalf("%d rules, want 7 and the built-in statistics rule", n)
	}
	email := rs.Rules[2]
	if email.Name != "contact-email" || email.Columns[0] != "public.customers.email" || email.Line != 13 {
		t.Errorf("tag not expanded or line wrong: %+v", email)
	}
	if !rs.Unattributed || len(rs.Detectors) != 8 {
		t.Errorf("defaults: %+v", rs)
	}
	if got := rs.columnRules("hr", "staff", "ssn"); !got.Has(0) || got.Has(1) {
		t.Errorf("*.*.ssn does not match hr.staff.ssn alone: %v", got)
	}
	if got := rs.columnRules("public", "customers", "ssn_copy"); got.Has(0) {
		t.Error("a glob part matched across its boundary")
	}
	if got := rs.cleared([]string{"auditors"}); !got.Has(0) || got.Has(1) {
		t.Errorf("clearance: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{"", "m.yaml: empty masking document"},
		{"rules:\n  - name: a\n    colums: [x.y.z]\n", `m.yaml:3: unknown key "colums"`},
		{"rules:\n  - name: a\n    columns: [x.y]\n    strategy: redact\n", `m.yaml:3: rule "a": columns: column pattern "x.y" is not schema.table.column`},
		{"rules:\n  - name: a\n    columns: [x.y.z]\n    strategy: scramble\n", `m.yaml:4: rule "a": strategy: "scramble" is not redact`},
		{"rules:\n  - name: a\n    columns: [x.y.z]\n    strategy: hash\n    value: x\n", `m.yaml:5: rule "a": value: only redact takes a value`},
		{"rules:\n  - name: a\n    tags: [pii]\n    strategy: hash\n", `m.yaml:3: rule "a": tags: unknown tag "pii"`},
		{"rules:\n  - name: a\n    columns: [x.y.z]\n    strategy: hash\n    fallback: allow\n", `m.yaml:5: rule "a": fallback: "allow" is not deny or detect`},
		{"rules:\n  - name: a\n    columns: [x.y.z]\n    strategy: hash\n  - name: a\n    columns: [x.y.z]\n    strategy: hash\n", `m.yaml:5: rule "a": name: defined twice`},
		{"rules:\n  - name: builtin/x\n    columns: [x.y.z]\n    strategy: hash\n", `reserved`},
		{"detectors: [card, passport]\n", `m.yaml:1: detectors: unknown detector "passport"`},
		{"unattributed: maybe\n", `m.yaml:1: unattributed: "maybe" is not detect or pass`},
		{"rules:\n  - name: a\n    columns: [\"x.[.z\"]\n    strategy: hash\n", `bad part`},
	} {
		_, err := Parse("m.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestEngineNeedsKeyAndParser(t *testing.T) {
	rs, err := Parse("m.yaml", []byte(seedRules))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Rules: rs}); err == nil || !strings.Contains(err.Error(), "parser") {
		t.Errorf("no parser: %v", err)
	}
	if _, err := New(Options{Rules: rs, Parser: noParser{}, HashKey: []byte("short")}); err == nil || !strings.Contains(err.Error(), "hash key") {
		t.Errorf("short key: %v", err)
	}
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !e.NewSession(nil, nil).Off() {
		t.Error("a session without rules is not off")
	}
}
