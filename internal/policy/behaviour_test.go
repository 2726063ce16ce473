package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/policy/classify"
	"github.com/sluicehq/sluice/internal/policy/sqlparse"
)

func mustParse(t *testing.T, doc string) *RuleSet {
	t.Helper()
	rs, err := Parse("test", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// DESIGN.md's crashing input: the worker dies, the engine denies the statement and keeps
// deciding. Run with the default rules, as the agent does.
func TestCrashingStatementIsDeniedAndEngineSurvives(t *testing.T) {
	e := freshEngine(t, DefaultRules())
	crash := "SELECT 1" + strings.Repeat("+1", 29999)
	for range 2 { // not cached: each attempt is refused on its own
		d := e.Decide(ctx(), Identity{}, crash)
		if d.Action != Deny || d.Rule != RuleParseError || !errors.Is(d.Classification.Err, sqlparse.ErrParserFailed) {
			t.Fatalf("crash input: %s (%v)", d, d.Classification.Err)
		}
	}
	if d := e.Decide(ctx(), Identity{}, "SELECT 1"); d.Action != Allow {
		t.Fatalf("after the crash: %s", d)
	}
}

func TestOversizeStatementDenied(t *testing.T) {
	e, err := New(Options{Parser: sqlparse.Options{Workers: 1, MaxBytes: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d := e.Decide(ctx(), Identity{}, "SELECT '"+strings.Repeat("x", 1000)+"'")
	if d.Action != Deny || d.Rule != RuleParseError || !errors.Is(d.Classification.Err, sqlparse.ErrTooLarge) {
		t.Fatalf("oversize: %s (%v)", d, d.Classification.Err)
	}
}

// A broad allow rule does not let hazards through; only a rule naming the flag does, and a
// review rule can hold them for a human.
func TestHazardsNeedExplicitAllow(t *testing.T) {
	e := freshEngine(t, mustParse(t, `
default: deny
rules:
  - name: ops-everything
    match: {groups: [ops]}
    action: allow
  - name: ops-do
    match: {groups: [ops], commands: [DO], flags: [opaque_code]}
    action: allow
  - name: fixers-parse-errors
    match: {groups: [fixers], flags: [parse_error]}
    action: allow
  - name: reviewers-dynamic
    match: {groups: [reviewers], flags: [dynamic_sql]}
    action: review
`))
	ops := NewIdentity("i", "s", []string{"ops"})
	cases := []struct {
		id     Identity
		sql    string
		action Action
		rule   string
	}{
		{ops, "SELECT 1", Allow, "ops-everything"},
		{ops, "DO $$BEGIN END$$", Allow, "ops-do"},
		{ops, "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", Deny, "builtin/opaque-code"},
		{ops, "SELECT dblink_exec('x')", Deny, "builtin/dynamic-sql"},
		{ops, "SELEC 1", Deny, RuleParseError},
		{NewIdentity("i", "s", []string{"fixers"}), "SELEC 1", Allow, "fixers-parse-errors"},
		{NewIdentity("i", "s", []string{"reviewers"}), "SELECT dblink_exec('x')", Review, "reviewers-dynamic"},
		{Identity{}, "SELECT 1", Deny, RuleDefault},
	}
	for _, c := range cases {
		if d := e.Decide(ctx(), c.id, c.sql); d.Action != c.action || d.Rule != c.rule {
			t.Errorf("%v %q: got %s, want %s by %s", c.id.Groups, c.sql, d, c.action, c.rule)
		}
	}
	if d := e.DecideFunctionCall(ops, 1234); d.Action != Deny || d.Rule != "builtin/function-call-message" {
		t.Errorf("FunctionCall: %s", d)
	}
}

func TestFunctionCallMessage(t *testing.T) {
	if d := engine(t).DecideFunctionCall(Identity{}, 2619); d.Action != Deny || d.Rule != "default/function-call-message" {
		t.Fatalf("got %s", d)
	}
	e := freshEngine(t, mustParse(t, "rules:\n  - {name: fc, action: allow, match: {flags: [function_call_message]}}\n  - pack: default\n"))
	if d := e.DecideFunctionCall(Identity{}, 2619); d.Action != Allow || d.Rule != "fc" {
		t.Fatalf("explicitly allowed: %s", d)
	}
}

func TestDecisionCache(t *testing.T) {
	e := freshEngine(t, mustParse(t, `
rules:
  - {name: ci-prod, match: {groups: [ci], objects: ["prod.*"]}, action: deny}
`))
	sql := "SELECT * FROM prod.t"
	first := e.Decide(ctx(), identities["ci"], sql)
	again := e.Decide(ctx(), identities["ci"], sql)
	if first.Action != Deny || again.Classification != first.Classification {
		t.Fatalf("not served from cache: %s / %s", first, again)
	}
	// Same text, other identity: its own decision, the classification is shared.
	other := e.Decide(ctx(), identities[""], sql)
	if other.Action != Allow || other.Classification != first.Classification {
		t.Fatalf("identity leaked through the cache: %s", other)
	}
	// A literal Identity without NewIdentity gets the same key.
	lit := Identity{Issuer: identities["ci"].Issuer, Subject: identities["ci"].Subject, Groups: []string{"ci"}}
	if d := e.Decide(ctx(), lit, sql); d.Action != Deny {
		t.Fatalf("literal identity: %s", d)
	}
	// A reload drops decisions made under the old rules.
	e.SetRules(mustParse(t, "default: deny\n"))
	if d := e.Decide(ctx(), identities[""], sql); d.Action != Deny || d.Rule != RuleDefault {
		t.Fatalf("stale decision after reload: %s", d)
	}
}

func TestFingerprintBindsStatementShape(t *testing.T) {
	e := engine(t)
	a := e.Decide(ctx(), identities[""], "SELECT * FROM secret.keys WHERE id = 1")
	b := e.Decide(ctx(), identities[""], "select *  from secret.keys where id = 2 -- again")
	c := e.Decide(ctx(), identities[""], "SELECT * FROM secret.keys WHERE name = 'x'")
	if a.Action != Review || a.Fingerprint == "" || a.Fingerprint != b.Fingerprint || a.Fingerprint == c.Fingerprint {
		t.Fatalf("fingerprints: %s %q %q %q", a, a.Fingerprint, b.Fingerprint, c.Fingerprint)
	}
}

func TestSessionLockTimeout(t *testing.T) {
	e := engine(t)
	sql := "ALTER TABLE orders DROP COLUMN note"
	var s Session
	d := e.DecideInSession(ctx(), identities[""], s, sql)
	if d.Action != Warn || len(d.Warnings) != 2 || d.Warnings[1].Rule != "migration/lock-timeout" {
		t.Fatalf("without lock_timeout: %s %v", d, d.Warnings)
	}
	s.Observe(e.Classify(ctx(), "SET lock_timeout = '3s'"))
	if !s.LockTimeout {
		t.Fatal("Observe missed SET lock_timeout")
	}
	d = e.DecideInSession(ctx(), identities[""], s, sql)
	if d.Action != Warn || len(d.Warnings) != 1 || d.Warnings[0].Rule != "migration/drop-column" {
		t.Fatalf("with lock_timeout: %s %v", d, d.Warnings)
	}
	s.Observe(e.Classify(ctx(), "SET lock_timeout = 0"))
	if s.LockTimeout {
		t.Fatal("lock_timeout = 0 still counts as set")
	}
	s.LockTimeout = true
	s.Observe(e.Classify(ctx(), "RESET ALL"))
	if s.LockTimeout {
		t.Fatal("RESET ALL kept lock_timeout")
	}
}

func TestDecideStartup(t *testing.T) {
	e := engine(t)
	strict := freshEngine(t, mustParse(t, "default: deny\nrules:\n  - pack: default\n"))
	cases := []struct {
		params map[string]string
		action Action
		rule   string
	}{
		{map[string]string{"user": "app", "database": "prod", "application_name": "psql"}, Allow, RuleDefault},
		{map[string]string{"client_encoding": "UTF8", "DateStyle": "ISO, MDY", "extra_float_digits": "3"}, Allow, RuleDefault},
		{map[string]string{"client_encoding": "unicode"}, Allow, RuleDefault},
		{map[string]string{"client_encoding": "LATIN1"}, Deny, RuleUTF8Only},
		{map[string]string{"client_encoding": "SQL_ASCII"}, Deny, RuleUTF8Only},
		{map[string]string{"standard_conforming_strings": "on"}, Allow, RuleDefault},
		{map[string]string{"standard_conforming_strings": "off"}, Deny, "default/session-parsing"},
		{map[string]string{"role": "postgres"}, Deny, "default/session-identity"},
		{map[string]string{"options": "-c role=postgres"}, Deny, "default/session-identity"},
		{map[string]string{"options": "-crole=postgres"}, Deny, "default/session-identity"},
		{map[string]string{"options": "--session-authorization=postgres"}, Deny, "default/session-identity"},
		{map[string]string{"options": "-c geqo=off --search_path=evil"}, Deny, "default/session-search-path"},
		{map[string]string{"options": "-c client_encoding=LATIN1"}, Deny, RuleUTF8Only},
		{map[string]string{"options": "-c statement_timeout=5s -c work_mem=64MB"}, Allow, RuleDefault},
		{map[string]string{"options": `-c application_name=a\ b`}, Allow, RuleDefault},
		{map[string]string{"options": "-B 1000"}, Deny, RuleStartupOptions},
		{map[string]string{"options": "-c"}, Deny, RuleStartupOptions},
		{map[string]string{"replication": "database"}, Deny, "default/replication-startup"},
		{map[string]string{"replication": "false"}, Allow, RuleDefault},
		{map[string]string{"_pq_.compression": "on"}, Deny, "default/replication-startup"},
	}
	for _, c := range cases {
		if d := e.DecideStartup(identities[""], c.params); d.Action != c.action || d.Rule != c.rule {
			t.Errorf("%v: got %s (%s), want %s by %s", c.params, d, d.Message, c.action, c.rule)
		}
		// The policy's default action does not apply to startup parameters.
		if d := strict.DecideStartup(identities[""], c.params); d.Action != c.action {
			t.Errorf("default deny, %v: got %s, want %s", c.params, d, c.action)
		}
	}
}

// One allowed parameter cannot carry another through: each is its own statement.
func TestStartupParametersDecidedOneByOne(t *testing.T) {
	e := freshEngine(t, mustParse(t, `
rules:
  - {name: app-name, match: {settings: [application_name]}, action: allow}
  - pack: default
`))
	d := e.DecideStartup(Identity{}, map[string]string{"application_name": "x", "options": "-c role=postgres"})
	if d.Action != Deny || d.Rule != "default/session-identity" {
		t.Fatalf("got %s", d)
	}
	if n := len(d.Classification.Statements); n != 2 {
		t.Fatalf("%d pseudo-statements, want 2", n)
	}
	if d.Classification.Statements[d.Statement].Settings[0] != (classify.Setting{Name: "role", Value: "postgres", Known: true}) {
		t.Fatalf("deciding statement %+v", d.Classification.Statements[d.Statement])
	}
}
