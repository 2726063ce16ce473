package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

func init() {
	pgxScenarios["masked-params"] = maskedParams
}

// maskedParams binds an SSN as a parameter, compared with a masked column and written to
// one, next to a statement on a table with no masked column.
func maskedParams(ctx context.Context, c *pgx.Conn) []string {
	var out []string
	var name string
	err := c.QueryRow(ctx, "select name from people where ssn = $1", "078-05-1120").Scan(&name)
	out = append(out, result("lookup", name, err))
	tag, err := c.Exec(ctx, "insert into people (id, name, ssn) values ($1, $2, $3)", 2, "Grace", "219-09-9999")
	out = append(out, result("insert", tag.RowsAffected(), err))
	tag, err = c.Exec(ctx, "insert into notes (body) values ($1)", "plain 555-12-3456 note")
	out = append(out, result("plain", tag.RowsAffected(), err))
	return out
}

// Issue 8: outcomes count masked cells, and parameters that may be masked data are recorded as redacted, so the audit log
// is not where masked values can be read back; parameters of statements that touch no
// masked column are kept. The whole log is searched for the raw values.
func TestAuditRedactsMaskedParameters(t *testing.T) {
	w := newWorld(t)
	if err := w.db.Exec(context.Background(), "\\c app\nSET ROLE sluice_app; CREATE TABLE people (id int, name text, ssn text, email text); "+
		"INSERT INTO people VALUES (1, 'Ada', '078-05-1120', 'ada@example.com'); CREATE TABLE notes (body text);"); err != nil {
		t.Fatal(err)
	}
	w.configureMasking(maskingRules)
	w.startAgent()
	cg := w.enforced("agent-job")
	out := w.pgxClient(cg, "masked-params", "")
	if strings.Join(out, "\n") != "lookup ok Ada\ninsert ok 1\nplain ok 1" {
		t.Fatalf("client: %q", out)
	}
	// Outcomes count the values masking rewrote: two in the first result, none in the
	// second (NULLs and unmasked columns are not counted).
	for _, q := range []string{"select ssn, email, name from people where id = 1", "select name, email from people where id = 2"} {
		if out, err := w.psql(cg, q); err != nil {
			t.Fatalf("%s: %v %s", q, err, out)
		}
	}
	w.stopAgent(syscall.SIGTERM)
	cells := map[string]int64{}
	for text, o := range w.auditOutcomesByText() {
		cells[text] = o.MaskedCells
	}
	if a, b := cells["select ssn, email, name from people where id = 1"], cells["select name, email from people where id = 2"]; a != 2 || b != 0 {
		t.Errorf("outcomes report %d and %d masked cells, want 2 and 0", a, b)
	}

	var redacted, kept int
	for _, st := range w.auditStatements() {
		for _, p := range st.Parameters {
			switch {
			case p.Redacted && p.Value == "":
				redacted++
			case p.Value == "plain 555-12-3456 note":
				kept++
			}
		}
	}
	if redacted != 4 || kept != 1 {
		t.Errorf("%d parameters redacted, %d kept; want the 4 of the statements on people redacted and the note kept", redacted, kept)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "audit", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range []string{"078-05-1120", "219-09-9999"} {
			if strings.Contains(string(b), raw) {
				t.Errorf("%s holds the masked value %s", f, raw)
			}
		}
	}
}
