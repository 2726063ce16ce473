package masking

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// leakCase is one statement of the leak corpus: whether masking must refuse it, and what
// clean values must come back intact when it runs.
type leakCase struct {
	sql    string
	deny   bool
	intact []string
	// proto: "" simple Query; "text" or "binary" extended protocol with that result format.
	proto string
	// errs: the statement is expected to fail on the server (the error is scrubbed).
	errs bool
}

var leakCorpus = []leakCase{
	// Plain columns, however named: masked by their origin.
	{sql: "SELECT * FROM customers ORDER BY id", intact: []string{"Alice Smith", "Bob Jones", `"tier"`}},
	{sql: "SELECT id, name, ssn, card, email, phone, api_key FROM customers", intact: []string{"Alice Smith"}},
	{sql: "SELECT c.ssn AS x, c.card AS y FROM customers c"},
	{sql: "SELECT ssn AS name, email AS id FROM customers"},
	{sql: `SELECT ssn AS "ssn_raw" FROM customers`},
	{sql: "TABLE customers", intact: []string{"Bob Jones"}},
	{sql: "SELECT * FROM contacts", intact: []string{"Alice Smith"}},
	{sql: "SELECT email, ssn FROM contacts WHERE id = 1"},
	{sql: "SELECT s FROM (SELECT ssn AS s FROM customers) sub"},
	{sql: "SELECT sub.* FROM (SELECT card, name FROM customers) sub", intact: []string{"Bob Jones"}},
	{sql: "WITH c AS (SELECT ssn, name FROM customers) SELECT * FROM c", intact: []string{"Alice Smith"}},
	{sql: "WITH c(x) AS (SELECT card FROM customers) SELECT x FROM c"},
	{sql: "SELECT DISTINCT ssn FROM customers"},
	{sql: "SELECT ssn FROM customers GROUP BY ssn"},
	{sql: "SELECT ssn, name FROM customers ORDER BY ssn DESC", intact: []string{"Alice Smith"}},
	{sql: "SELECT name FROM customers WHERE ssn LIKE '123%'", intact: []string{"Alice Smith"}},
	{sql: "SELECT * FROM customers c JOIN orders o ON o.customer_id = c.id", intact: []string{"Paris", "Berlin"}},
	{sql: "SELECT o.shipped_to, c.email FROM orders o, LATERAL (SELECT email FROM customers WHERE id = o.customer_id) c", intact: []string{"Paris"}},
	{sql: "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders)", intact: []string{"Bob Jones"}},
	{sql: "SELECT ssn FROM customers LIMIT 1 OFFSET 1"},
	{sql: "SELECT * FROM hr.staff", intact: []string{"Carol White"}},
	{sql: "SELECT * FROM events"},
	{sql: "SELECT * FROM events_2024"},
	{sql: "SELECT count(ssn), count(*) FROM customers"},
	{sql: "UPDATE customers SET name = name RETURNING ssn, card, api_key"},
	{sql: "DELETE FROM plain RETURNING *"},
	{sql: "INSERT INTO plain VALUES (1, 'inserted') RETURNING *", intact: []string{"inserted"}},
	{sql: "WITH d AS (UPDATE customers SET name = name RETURNING *) SELECT ssn, card FROM d"},
	{sql: "SELECT x.s FROM customers c, LATERAL (SELECT c.ssn AS s, c.card) x"},
	{sql: "SELECT j.ssn, j.shipped_to FROM (customers JOIN orders ON orders.customer_id = customers.id) AS j", intact: []string{"Paris"}},
	{sql: "SELECT ssn, count(*) FROM customers GROUP BY GROUPING SETS ((ssn), ())"},
	{sql: "WITH RECURSIVE c AS (SELECT card, api_key FROM customers) SELECT * FROM c"},
	{sql: "SELECT (SELECT 1), ssn FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE customer_id = customers.id)"},
	// Free text masked by content under a detect fallback.
	{sql: "SELECT upper(notes) FROM customers", intact: []string{"VIP, CALL BEFORE NOON"}},
	{sql: "SELECT notes || ' / ' || name FROM customers", intact: []string{"Bob Jones"}},
	// Cursors, decided at DECLARE; text and binary.
	{sql: "BEGIN; DECLARE c1 CURSOR FOR SELECT * FROM customers; FETCH ALL c1; CLOSE c1; COMMIT", intact: []string{"Alice Smith"}},
	{sql: "BEGIN; DECLARE c2 BINARY CURSOR FOR SELECT ssn, card, email, balance FROM customers; FETCH 2 FROM c2; COMMIT"},
	{sql: "BEGIN; DECLARE c3 CURSOR FOR SELECT lower(ssn) FROM customers; FETCH c3; COMMIT", deny: true},
	// COPY TO STDOUT, text and CSV, masked by column.
	{sql: "COPY customers TO STDOUT", intact: []string{"Alice Smith"}},
	{sql: "COPY customers TO STDOUT (FORMAT csv, HEADER)", intact: []string{"Bob Jones", "api_key"}},
	{sql: "COPY (SELECT id, ssn, email, card FROM customers) TO STDOUT"},
	{sql: "COPY customers (id, ssn, notes) TO STDOUT WITH (FORMAT csv, DELIMITER '|', QUOTE '''')"},
	{sql: "COPY (SELECT upper(notes) FROM customers) TO STDOUT", intact: []string{"VIP"}},
	{sql: "COPY events TO STDOUT", errs: true},
	{sql: "COPY customers TO STDOUT (FORMAT binary)", deny: true},
	{sql: "COPY customers TO '/tmp/sluice-leak.txt'", deny: true},
	// SQL-level prepared statements.
	{sql: "PREPARE p1 AS SELECT * FROM customers; EXECUTE p1; DEALLOCATE p1", intact: []string{"Alice Smith"}},
	{sql: "PREPARE p2 AS SELECT md5(ssn) FROM customers", deny: true},
	// Extended protocol, text and binary results.
	{sql: "SELECT * FROM customers ORDER BY id", proto: "text", intact: []string{"Alice Smith"}},
	{sql: "SELECT * FROM customers ORDER BY id", proto: "binary", intact: []string{"Bob Jones"}},
	{sql: "SELECT ssn, email FROM contacts", proto: "binary"},
	{sql: "SELECT lower(ssn) FROM customers", proto: "binary", deny: true},
	// Errors carrying values.
	{sql: "SELECT name FROM customers WHERE ssn::int = 5", errs: true},
	{sql: "SELECT name FROM customers WHERE api_key::int = 5", errs: true},
	{sql: "SELECT name FROM customers WHERE (api_key || '')::date > now()", errs: true},
	{sql: "SELECT id FROM customers WHERE to_jsonb(api_key::json) IS NULL", errs: true},
	// Computed from masked columns: refused (fallback deny).
	{sql: "SELECT lower(ssn) FROM customers", deny: true},
	{sql: "SELECT ssn || '' FROM customers", deny: true},
	{sql: "SELECT substr(card, 1, 12) FROM customers", deny: true},
	{sql: "SELECT md5(card) FROM customers", deny: true},
	{sql: "SELECT length(ssn) FROM customers", deny: true},
	{sql: "SELECT ssn::text FROM customers", deny: true},
	{sql: "SELECT CAST(api_key AS varchar(100)) FROM customers", deny: true},
	{sql: "SELECT row_to_json(c) FROM customers c", deny: true},
	{sql: "SELECT to_jsonb(c.*) FROM customers c", deny: true},
	{sql: "SELECT c FROM customers c", deny: true},
	{sql: "SELECT (c).api_key FROM customers c", deny: true},
	{sql: "SELECT array_agg(ssn) FROM customers", deny: true},
	{sql: "SELECT string_agg(card, ',') FROM customers", deny: true},
	{sql: "SELECT jsonb_build_object('k', api_key) FROM customers", deny: true},
	{sql: "SELECT format('%s', email) FROM customers", deny: true},
	{sql: "SELECT CASE WHEN ssn LIKE '1%' THEN 'one' END FROM customers", deny: true},
	{sql: "SELECT ssn = '123-45-6789' FROM customers", deny: true},
	{sql: "SELECT (SELECT api_key FROM customers LIMIT 1)", deny: true},
	{sql: "SELECT x FROM customers, unnest(ARRAY[card]) x", deny: true},
	{sql: "SELECT name FROM customers UNION SELECT ssn FROM customers", deny: true},
	{sql: "SELECT ssn FROM customers UNION ALL SELECT name FROM customers", deny: true},
	{sql: "WITH RECURSIVE r(x) AS (SELECT card FROM customers UNION SELECT x FROM r) SELECT x FROM r", deny: true},
	{sql: "SELECT lower FROM (SELECT lower(api_key) FROM customers) s", deny: true},
	{sql: "SELECT ssn FROM customers FULL JOIN archive USING (ssn)", deny: true},
	{sql: "SELECT * FROM ssn_digits", deny: true},
	{sql: "SELECT lookup_key(1)", deny: true},
	{sql: "SELECT * FROM customer_ssn(2)", deny: true},
	{sql: "SELECT balance + 1 FROM customers", deny: true},
	{sql: "SELECT pg_notify('leaks', api_key) FROM customers", deny: true},
	{sql: "SELECT query_to_xml('SELECT ssn FROM customers', true, true, '')", deny: true},
	{sql: "SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'", deny: true},
	// Copies to where the values would come back unmasked.
	{sql: "INSERT INTO plain SELECT id, ssn FROM customers", deny: true},
	{sql: "INSERT INTO plain (note) VALUES ((SELECT card FROM customers LIMIT 1))", deny: true},
	{sql: "UPDATE plain SET note = (SELECT api_key FROM customers LIMIT 1)", deny: true},
	{sql: "UPDATE customers SET name = ssn", deny: true},
	{sql: "CREATE TABLE leak1 AS SELECT ssn AS s FROM customers", deny: true},
	{sql: "SELECT card INTO leak2 FROM customers", deny: true},
	{sql: "CREATE MATERIALIZED VIEW leak3 AS SELECT ssn FROM customers", deny: true},
	{sql: "CREATE TEMP VIEW leak4 AS SELECT api_key FROM customers", deny: true},
	{sql: "ALTER TABLE customers ADD COLUMN leak5 text GENERATED ALWAYS AS (api_key) STORED", deny: true},
	{sql: "INSERT INTO archive SELECT id, ssn FROM customers", intact: []string{"INSERT 0 2"}},
	{sql: "SELECT * FROM archive"},
	{sql: "CREATE TEMP TABLE kept AS SELECT id, ssn FROM customers", intact: []string{"SELECT 2"}},
	{sql: "SELECT * FROM kept"},
	{sql: "SELECT lo_from_bytea(0, convert_to(api_key, 'UTF8')) FROM customers", deny: true},
	{sql: "SELECT set_config('leak.key', api_key, false) FROM customers", deny: true},
	// Taking masked columns out of their rules' reach.
	{sql: "ALTER TABLE customers RENAME COLUMN ssn TO s", deny: true},
	{sql: "ALTER TABLE customers RENAME TO clients", deny: true},
	{sql: "ALTER TABLE customers SET SCHEMA hr", deny: true},
	{sql: "ALTER TABLE events DETACH PARTITION events_2024", deny: true},
	// Code and readers around lineage.
	{sql: "DO $$ BEGIN RAISE NOTICE '%', (SELECT api_key FROM customers LIMIT 1); END $$", deny: true},
	{sql: "CREATE FUNCTION leak6() RETURNS text LANGUAGE sql AS 'SELECT api_key FROM customers LIMIT 1'", deny: true},
	// Clean statements pass intact.
	{sql: "SELECT name FROM customers UNION SELECT shipped_to FROM orders", intact: []string{"Alice Smith", "Paris"}},
	{sql: "SELECT to_jsonb(o) FROM orders o", intact: []string{"Berlin"}},
	{sql: "SELECT md5(name), name FROM customers", intact: []string{"Alice Smith"}},
	{sql: "VALUES (1, 'literal')", intact: []string{"literal"}},
	{sql: "EXPLAIN SELECT * FROM customers"},
}

// TestLeakCorpus runs the corpus against a real PostgreSQL through a masking session and
// checks that no seeded sensitive value reaches the client, that refused statements are
// refused, and that clean values come back intact.
func TestLeakCorpus(t *testing.T) {
	if len(leakCorpus) < 60 {
		t.Fatalf("the corpus has %d statements, want at least 60", len(leakCorpus))
	}
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t, "developers")
	for _, c := range leakCorpus {
		w.received = nil
		var r *result
		switch c.proto {
		case "":
			r = w.query(c.sql)
		case "text":
			r = w.extended(c.sql, 0)
		case "binary":
			r = w.extended(c.sql, 1)
		}
		got := string(w.received)
		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Errorf("%s [%s]: the client received %q:\n%s", c.sql, c.proto, s, r)
			}
		}
		switch {
		case c.deny && r.denied == nil:
			t.Errorf("%s [%s]: ran, want refused:\n%s", c.sql, c.proto, r)
		case !c.deny && r.denied != nil:
			t.Errorf("%s [%s]: refused by %s: %s", c.sql, c.proto, r.denied.Rule, r.denied.Reason)
		case !c.deny && !c.errs && len(r.errors) > 0:
			t.Errorf("%s [%s]: server error: %s", c.sql, c.proto, r)
		case c.errs && len(r.errors) == 0:
			t.Errorf("%s [%s]: no error, want one", c.sql, c.proto)
		}
		for _, s := range c.intact {
			if !strings.Contains(got, s) {
				t.Errorf("%s [%s]: %q did not come back intact:\n%s", c.sql, c.proto, s, r)
			}
		}
	}
}

// TestNotificationsScrubbed: a NOTIFY payload carrying a value the detectors recognise
// reaches the listener masked.
func TestNotificationsScrubbed(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	w.query("LISTEN leaks")
	w.received = nil
	r := w.query("NOTIFY leaks, 'card 4111111111111111 ssn 123-45-6789 key AKIAIOSFODNN7EXAMPLE'")
	if len(r.notes) != 1 {
		t.Fatalf("got %d notifications, want 1:\n%s", len(r.notes), r)
	}
	got := r.notes[0].Payload
	for _, s := range []string{"4111111111111111", "123-45-6789", "AKIAIOSFODNN7EXAMPLE"} {
		if strings.Contains(string(w.received), s) {
			t.Errorf("payload %q: %q reached the client", got, s)
		}
	}
	if !strings.HasPrefix(got, "card XXXXXXXXXXXX1111 ssn XXX-XX-6789 key ") {
		t.Errorf("payload %q: want masked in place", got)
	}
}

// TestClearGroup: the same statements show real values to a group the rule clears, and
// masked ones to everyone else; a computed column that is refused for others runs.
func TestClearGroup(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	auditor := f.open(t, "staff", "auditors")
	other := f.open(t, "staff")
	for _, sql := range []string{"SELECT ssn FROM customers ORDER BY id", "SELECT * FROM ssn_digits ORDER BY id"} {
		a := auditor.query(sql)
		o := other.query(sql)
		if a.denied != nil || len(a.errors) > 0 {
			t.Fatalf("%s for auditors: %s", sql, a)
		}
		if !strings.Contains(string(auditor.received), "123") || !strings.Contains(string(auditor.received), "6789") {
			t.Errorf("%s: auditors do not see the real value:\n%s", sql, a)
		}
		if strings.Contains(string(other.received), "123-45-6789") || strings.Contains(string(other.received), "123456789") {
			t.Errorf("%s: a non-auditor sees the real value:\n%s", sql, o)
		}
	}
	// Clearance for one rule does not clear another.
	a := auditor.query("SELECT card FROM customers")
	if strings.Contains(string(auditor.received), "4111111111111111") {
		t.Errorf("auditors see cards, which their group is not cleared for:\n%s", a)
	}
}

// TestExecuteWithoutDescribe: a client that executes a statement reading masked columns
// without ever describing it gets a refusal, not rows masking could not attribute.
func TestExecuteWithoutDescribe(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	r := w.send(&pgproto3.Parse{Query: "SELECT ssn FROM customers"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if r.denied == nil || r.denied.Rule != "builtin/describe-first" {
		t.Fatalf("got %s, want a describe-first refusal", r)
	}
	if strings.Contains(string(w.received), "123-45-6789") {
		t.Fatal("leaked")
	}
	// Describing the portal is enough, and the session stays in step afterwards.
	r = w.send(&pgproto3.Parse{Query: "SELECT ssn FROM customers ORDER BY id"}, &pgproto3.Bind{},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if r.denied != nil || len(r.rows) != 2 {
		t.Fatalf("got %s", r)
	}
	if v, _ := r.cell(0, 0); v != "XXXXXXX6789" {
		t.Fatalf("got %q, want the partial mask", v)
	}
	// A statement reading nothing masked needs no Describe.
	r = w.send(&pgproto3.Parse{Query: "SELECT shipped_to FROM orders ORDER BY id"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{})
	if r.denied != nil || len(r.rows) != 2 {
		t.Fatalf("got %s", r)
	}
}

// TestPipelineError: after a failing statement in a pipeline the server skips to Sync;
// the next pipeline's results must still be attributed to its own statements.
func TestPipelineError(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	w.query("SELECT 1") // settle
	r := w.send(
		&pgproto3.Parse{Name: "bad", Query: "SELECT 1/0"}, &pgproto3.Bind{PreparedStatement: "bad"}, &pgproto3.Execute{},
		&pgproto3.Parse{Name: "s", Query: "SELECT ssn FROM customers"}, &pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Sync{},
		&pgproto3.Parse{Name: "t", Query: "SELECT ssn, card FROM customers ORDER BY id"}, &pgproto3.Describe{ObjectType: 'S', Name: "t"},
		&pgproto3.Bind{PreparedStatement: "t", ResultFormatCodes: []int16{1}}, &pgproto3.Execute{}, &pgproto3.Sync{},
	)
	_ = r
	// send stops at the first ReadyForQuery; read the second segment's answer.
	r2 := w.send()
	if len(r2.rows) != 2 {
		t.Fatalf("second segment: %s", r2)
	}
	if v, _ := r2.cell(0, 0); v != "XXXXXXX6789" {
		t.Fatalf("second segment row: %q", v)
	}
	if strings.Contains(string(w.received), "123-45-6789") {
		t.Fatal("leaked")
	}
}

// TestUnmaskedResultsPassRaw: a result with no masked column needs no DataRow decoded,
// however the session's other results are masked.
func TestUnmaskedResultsPassRaw(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	for _, c := range []struct {
		sql    string
		proto  string
		decode int
	}{
		{"SELECT shipped_to, total FROM orders", "", 0},
		{"SELECT * FROM customers", "", 2},
		{"SELECT id, name FROM customers", "", 0},
		{"SELECT shipped_to FROM orders", "binary", 0},
		{"SELECT ssn FROM customers", "binary", 2},
		{"COPY orders TO STDOUT", "", 0},
		{"COPY customers (id, ssn) TO STDOUT", "", 2},
	} {
		var r *result
		if c.proto == "" {
			r = w.query(c.sql)
		} else {
			r = w.extended(c.sql, 1)
		}
		if r.decoded != c.decode {
			t.Errorf("%s [%s]: %d rows decoded, want %d", c.sql, c.proto, r.decoded, c.decode)
		}
	}
}

// TestPipelinedCursorNames: a cursor name reused by a request sent before the first one's
// results arrived must not lend the first results the second cursor's plan. Unattributed
// columns are not scanned here, so the first cursor's computed column is masked by
// content only because its own plan says so.
func TestPipelinedCursorNames(t *testing.T) {
	f := newFixture(t, seedSchema, "unattributed: pass\n"+seedRules)
	w := f.open(t)
	w.send(
		&pgproto3.Query{String: "BEGIN; DECLARE c CURSOR FOR SELECT upper(notes) FROM customers ORDER BY id; FETCH ALL c"},
		&pgproto3.Query{String: "CLOSE c; DECLARE c CURSOR FOR SELECT shipped_to FROM orders; FETCH ALL c; COMMIT"},
	)
	w.send()
	if got := string(w.received); strings.Contains(got, "4012888888881881") || !strings.Contains(got, "Berlin") {
		t.Fatalf("received %q", got)
	}
}

// TestCursorThroughProtocol: a SQL cursor executed through the extended protocol is
// masked like any result, once described; without a Describe it is refused.
func TestCursorThroughProtocol(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	w.query("BEGIN; DECLARE pc CURSOR FOR SELECT ssn, name FROM customers ORDER BY id")
	r := w.send(&pgproto3.Execute{Portal: "pc"}, &pgproto3.Sync{})
	if r.denied == nil {
		t.Fatalf("executing an undescribed cursor: %s", r)
	}
	w.query("ROLLBACK; BEGIN; DECLARE pc CURSOR FOR SELECT ssn, name FROM customers ORDER BY id")
	w.received = nil
	r = w.send(&pgproto3.Describe{ObjectType: 'P', Name: "pc"}, &pgproto3.Execute{Portal: "pc", MaxRows: 1}, &pgproto3.Sync{})
	if r.denied != nil || len(r.rows) != 1 {
		t.Fatalf("described cursor: %s", r)
	}
	if v, _ := r.cell(0, 0); v != "XXXXXXX6789" {
		t.Fatalf("got %q", v)
	}
	// Later batches of the same cursor need no new Describe.
	r = w.send(&pgproto3.Execute{Portal: "pc", MaxRows: 1}, &pgproto3.Sync{})
	if v, _ := r.cell(0, 0); r.denied != nil || v != "XXXXXXX7890" {
		t.Fatalf("second batch: %s", r)
	}
	if strings.Contains(string(w.received), "123-45-6789") || strings.Contains(string(w.received), "234-56-7890") {
		t.Fatal("leaked")
	}
	w.query("COMMIT")
}
