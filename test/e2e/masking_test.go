package e2e

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

const maskingRules = `rules:
  - name: ssn
    columns: ["public.people.ssn"]
    strategy: partial
    keep_last: 4
    clear: [auditors]
  - name: email
    columns: ["public.people.email"]
    strategy: email
`

// Issue 7 through the whole data path: an enforced psql session gets masked values
// whatever the SQL (aliases, *, views, casts, functions), refusals where masking cannot
// follow the value, and clean columns intact.
func TestMaskingThroughTheAgent(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.db.Exec(ctx, "\\c app\nSET ROLE sluice_app; CREATE TABLE people (id int, name text, ssn text, email text); "+
		"INSERT INTO people VALUES (1, 'Ada', '078-05-1120', 'ada@example.com'); CREATE VIEW people_v AS SELECT name, ssn AS tax_id FROM people;"); err != nil {
		t.Fatal(err)
	}
	w.configureMasking(maskingRules)
	w.startAgent()
	cg := w.enforced("agent-job")

	for _, q := range []string{
		"select * from people",
		"select ssn as x, email as y from people",
		"table people",
		"select tax_id from people_v",
		"select ssn::varchar(20) from people",
	} {
		out, err := w.psql(cg, q)
		t.Logf("%s -> %q (%v)", q, out, err)
		if strings.Contains(out, "078-05-1120") || strings.Contains(out, "ada@example.com") {
			t.Errorf("%s leaked a raw value: %q", q, out)
		}
		if err == nil && !strings.Contains(out, "1120") && !strings.Contains(q, "email") {
			t.Errorf("%s: %q, want the masked ssn keeping its last four", q, out)
		}
	}
	for _, q := range []string{"select lower(ssn) from people", "select row_to_json(p) from people p", "select md5(ssn) from people"} {
		out, err := w.psql(cg, q)
		t.Logf("%s -> %q (%v)", q, out, err)
		if err == nil || strings.Contains(out, "078-05-1120") {
			t.Errorf("%s: %q %v, want it refused (a masked column in an output with no origin)", q, out, err)
		}
	}
	if out, err := w.psql(cg, "select name from people"); err != nil || out != "Ada" {
		t.Errorf("unmasked column: %q %v, want it intact", out, err)
	}

	// The auditors group sees clear values.
	clear := w.enforcedWithGroups("auditor-job", "auditors")
	if out, err := w.psql(clear, "select ssn from people"); err != nil || out != "078-05-1120" {
		t.Errorf("auditor: %q %v, want the clear value", out, err)
	}
}

// enforcedWithGroups is enforced() for an identity bound to extra groups: the binding in
// the world's config maps repository 42 to "ci"; repository 43 maps to the groups given.
func (w *world) enforcedWithGroups(sub string, groups ...string) string {
	w.t.Helper()
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		w.t.Fatal(err)
	}
	extra := "        - claims: {repository_id: [\"43\"]}\n          groups: [" + strings.Join(groups, ", ") + "]\n"
	if !strings.Contains(string(cfg), "repository_id: [\"43\"]") {
		w.writeConfig(strings.Replace(string(cfg), "          groups: [ci]\n", "          groups: [ci]\n"+extra, 1))
		w.stopAgent(syscall.SIGTERM)
		w.startAgent()
	}
	cg := testenv.Cgroup(w.t, w.root)
	now := time.Now()
	claims := w.issuer.Claims(sub, now)
	claims["repository_id"] = "43"
	tok, err := w.issuer.Sign("k1", claims)
	if err != nil {
		w.t.Fatal(err)
	}
	w.enrollToken(cg, tok)
	w.mustSluice("enforce", cg)
	return cg
}
