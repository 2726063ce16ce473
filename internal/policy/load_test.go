package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadErrorsNameFileLineAndKey(t *testing.T) {
	cases := map[string]struct {
		doc  string
		want string
	}{
		"unknown top-level key": {"default: allow\nrulez: []\n", `p.yaml:2: unknown key "rulez"`},
		"unknown rule key": {"rules:\n  - name: a\n    action: deny\n    actoin: deny\n",
			`p.yaml:4: unknown key "actoin"`},
		"unknown matcher key": {"rules:\n  - name: a\n    action: deny\n    match:\n      object: [x]\n",
			`p.yaml:5: unknown key "object"`},
		"bad action":  {"rules:\n  - name: a\n    action: block\n", `p.yaml:2: rule "a": unknown action "block"`},
		"bad flag":    {"rules:\n  - name: a\n    action: deny\n    match: {flags: [unbounded]}\n", `p.yaml:2: rule "a": flags: unknown flag "unbounded"`},
		"bad class":   {"rules:\n  - name: a\n    action: deny\n    match: {classes: [WRITES]}\n", `unknown class "WRITES"`},
		"bad lock":    {"rules:\n  - name: a\n    action: deny\n    match: {min_lock: huge}\n", `min_lock: unknown lock "huge"`},
		"bad pattern": {"rules:\n  - name: a\n    action: deny\n    match: {objects: [\"[\"]}\n", `objects: bad pattern "["`},
		"bad obj action": {"rules:\n  - name: a\n    action: deny\n    match: {actions: [drop]}\n",
			`actions: unknown action "drop"`},
		"no name":         {"rules:\n  - action: deny\n", "p.yaml:2: a rule needs a name"},
		"unknown pack":    {"rules:\n  - pack: nope\n", `p.yaml:2: unknown pack "nope"`},
		"pack match keys": {"rules:\n  - pack: default\n    match: {flags: [rename]}\n", "only issuers, subjects and groups"},
		"pack with name":  {"rules:\n  - pack: default\n    name: x\n", "takes only pack, action and match"},
		"default warn":    {"default: warn\n", "p.yaml:1: default: warn is not a final action"},
		"wrong type":      {"rules:\n  - name: a\n    action: deny\n    match: {groups: ci}\n", "p.yaml:4: cannot unmarshal"},
		"empty":           {"", "p.yaml: empty policy document"},
	}
	for name, c := range cases {
		_, err := Parse("p.yaml", []byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, c.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	doc := "default: deny\nsearch_path: [app, public]\nrules:\n  - pack: migration-safety\n    action: warn\n    match: {groups: [ci]}\n  - name: reads\n    action: allow\n    match: {classes: [read]}\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Default != Deny || rs.Source != path || len(rs.SearchPath) != 2 {
		t.Fatalf("got %+v", rs)
	}
	last := rs.Rules[len(rs.Rules)-1]
	if last.Name != "reads" || last.Match.Classes.String() != "READ" {
		t.Fatalf("last rule %+v", last)
	}
	for _, r := range rs.Rules[:len(rs.Rules)-1] {
		if r.Action != Warn || len(r.Match.Groups) != 1 || !strings.HasPrefix(r.Name, "migration/") {
			t.Fatalf("pack rule not overridden: %+v", r)
		}
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
}

// The shipped packs load, and the built-in policy is the default pack.
func TestPacksLoad(t *testing.T) {
	for _, p := range Packs() {
		if _, err := Parse("t", []byte("rules:\n  - pack: "+p+"\n")); err != nil {
			t.Errorf("pack %s: %v", p, err)
		}
	}
	rs := DefaultRules()
	if rs.Default != Allow || len(rs.Rules) == 0 || !strings.HasPrefix(rs.Rules[0].Name, "default/") {
		t.Fatalf("default rules: %+v", rs)
	}
}
