package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/testenv"
)

// accountsSchema seeds known sensitive values of several types, masked by accountsRules:
// text, varchar, int8, numeric, date and uuid columns, next to unmasked columns of the
// same types whose values must come back intact. Row 3 holds NULLs in the masked columns,
// and unmasked values with characters COPY must escape or quote.
const accountsSchema = `
CREATE TABLE accounts (id int PRIMARY KEY, name text, city varchar(32), opened date,
	balance numeric(12,2), ssn text, email varchar(64), card int8, salary numeric(12,2),
	born date, token uuid);
INSERT INTO accounts VALUES
	(1, 'Ada Lovelace', 'London', '2020-01-02', 1234.50, '078-05-1120', 'ada@lovelace.example',
	 4111111111111111, 98765.43, '1815-12-10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
	(2, 'Alan Turing', 'Wilmslow, "Cheshire"', '2021-06-23', 42.00, '219-09-9999', 'alan@turing.example',
	 5500005555555559, 123456.78, '1912-06-23', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'),
	(3, E'Grace\tHopper', E'back\\slash', '2022-12-09', 0.99, NULL, NULL, NULL, NULL, NULL, NULL);
`

// accountsRules masks six of the eleven columns, one strategy per type family; the
// auditors group sees every one in clear.
const accountsRules = `rules:
  - name: ssn
    columns: ["public.accounts.ssn"]
    strategy: partial
    keep_last: 4
    clear: [auditors]
  - name: email
    columns: ["public.accounts.email"]
    strategy: email
    clear: [auditors]
  - name: ids
    columns: ["public.accounts.card", "public.accounts.token"]
    strategy: hash
    clear: [auditors]
  - name: salary
    columns: ["public.accounts.salary"]
    strategy: partial
    keep_last: 2
    clear: [auditors]
  - name: born
    columns: ["public.accounts.born"]
    strategy: redact
    value: "1900-01-01"
    clear: [auditors]
`

// accountColumns are the table's columns in order, with the type OID of each (to encode
// the seeded values as a binary result would carry them) and whether a rule masks it.
var accountColumns = []struct {
	name   string
	oid    uint32
	masked bool
}{
	{"id", pgtype.Int4OID, false}, {"name", pgtype.TextOID, false}, {"city", pgtype.VarcharOID, false},
	{"opened", pgtype.DateOID, false}, {"balance", pgtype.NumericOID, false}, {"ssn", pgtype.TextOID, true},
	{"email", pgtype.VarcharOID, true}, {"card", pgtype.Int8OID, true}, {"salary", pgtype.NumericOID, true},
	{"born", pgtype.DateOID, true}, {"token", pgtype.UUIDOID, true},
}

// accountRows are the seeded rows in the canonical text form the checks compare
// (numerics with two decimals, NULL as "NULL").
var accountRows = [][]string{
	{"1", "Ada Lovelace", "London", "2020-01-02", "1234.50", "078-05-1120", "ada@lovelace.example",
		"4111111111111111", "98765.43", "1815-12-10", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
	{"2", "Alan Turing", `Wilmslow, "Cheshire"`, "2021-06-23", "42.00", "219-09-9999", "alan@turing.example",
		"5500005555555559", "123456.78", "1912-06-23", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
	{"3", "Grace\tHopper", `back\slash`, "2022-12-09", "0.99", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"},
}

// maskingQueryCases are the ways a pgx client asks for the same rows: the simple protocol
// (text), the extended protocol with text results, and the modes in which pgx describes
// the statement first and asks for binary results of the types it prefers in binary
// (integers, numeric, date, uuid), or of every column.
var maskingQueryCases = []struct {
	name   string
	binary string // which columns come back in binary: "", "pgx" (pgx's choice) or "all"
	args   []any
}{
	{"simple", "", []any{pgx.QueryExecModeSimpleProtocol}},
	{"exec-text", "", []any{pgx.QueryExecModeExec}},
	{"describe-exec", "pgx", []any{pgx.QueryExecModeDescribeExec}},
	{"cache-statement", "pgx", []any{pgx.QueryExecModeCacheStatement}},
	{"cache-describe", "pgx", []any{pgx.QueryExecModeCacheDescribe}},
	{"all-binary", "all", []any{pgx.QueryExecModeDescribeExec, pgx.QueryResultFormats{pgx.BinaryFormatCode}}},
}

// maskingCopyCases are COPY TO STDOUT through pgconn's CopyTo; binary COPY of masked
// columns is refused.
var maskingCopyCases = []struct{ name, sql string }{
	{"copy-text", "COPY accounts TO STDOUT"},
	{"copy-csv", "COPY (SELECT * FROM accounts ORDER BY id) TO STDOUT (FORMAT csv, HEADER)"},
	{"copy-binary", "COPY accounts TO STDOUT (FORMAT binary)"},
}

const accountsQuery = "SELECT id, name, city, opened, balance, ssn, email, card, salary, born, token FROM accounts ORDER BY id"

// wireDirEnv names the directory where the client keeps the bytes each case received.
const wireDirEnv = "SLUICE_E2E_WIRE_DIR"

// clientCase is what the client reports of one case, as one JSON line.
type clientCase struct {
	Case    string     `json:"case"`
	Formats []int16    `json:"formats,omitempty"` // result format code of each column
	Rows    [][]string `json:"rows,omitempty"`    // decoded into Go types, then printed
	Copy    string     `json:"copy,omitempty"`    // COPY data as received
	Err     string     `json:"err,omitempty"`     // SQLSTATE, or the error's text
	After   string     `json:"after,omitempty"`   // the session's answer to SELECT 1 after the case
}

func init() {
	pgxScenarios["masking-clients"] = maskingClients
}

// maskingClients runs every case on a connection of its own, opened as the scenario's one
// was (the process is in the enforced cgroup), whose received bytes are kept for the leak
// check. The scenario's own connection is not used.
func maskingClients(ctx context.Context, _ *pgx.Conn) []string {
	var out []string
	for _, qc := range maskingQueryCases {
		out = append(out, runClientCase(ctx, qc.name, func(c *pgx.Conn) clientCase {
			// Twice: cached modes run the second time from what they prepared or described.
			var first clientCase
			for i := range 2 {
				r := queryAccounts(ctx, c, qc.args)
				if i == 0 {
					first = r
				} else if r.Err == "" && !slices.EqualFunc(r.Rows, first.Rows, slices.Equal) {
					return clientCase{Err: fmt.Sprintf("the second run differs: %q then %q", first.Rows, r.Rows)}
				}
			}
			return first
		}))
	}
	for _, cc := range maskingCopyCases {
		out = append(out, runClientCase(ctx, cc.name, func(c *pgx.Conn) clientCase {
			var buf bytes.Buffer
			_, err := c.PgConn().CopyTo(ctx, &buf, cc.sql)
			return clientCase{Copy: buf.String(), Err: errText(err)}
		}))
	}
	return out
}

// runClientCase opens a recording connection, runs f, checks that the session still
// answers, and writes the received bytes to the wire directory.
func runClientCase(ctx context.Context, name string, f func(*pgx.Conn) clientCase) string {
	r := clientCase{Case: name}
	cfg, err := pgx.ParseConfig(os.Getenv("SLUICE_E2E_DSN"))
	if err != nil {
		r.Err = err.Error()
		return encodeCase(r)
	}
	rec := &wireRecorder{}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		rec.Conn = c
		return rec, err
	}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		r.Err = "connect: " + err.Error()
		return encodeCase(r)
	}
	r = f(c)
	r.Case = name
	var one int
	if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		r.After = errText(err)
	} else {
		r.After = strconv.Itoa(one)
	}
	c.Close(ctx)
	if err := os.WriteFile(filepath.Join(os.Getenv(wireDirEnv), name+".wire"), rec.received(), 0o600); err != nil {
		r.Err = err.Error()
	}
	return encodeCase(r)
}

// queryAccounts reads the accounts into Go types (NULLs included) and prints them in the
// form accountRows uses.
func queryAccounts(ctx context.Context, c *pgx.Conn, args []any) clientCase {
	rows, err := c.Query(ctx, accountsQuery, args...)
	if err != nil {
		return clientCase{Err: errText(err)}
	}
	defer rows.Close()
	var r clientCase
	for _, fd := range rows.FieldDescriptions() {
		r.Formats = append(r.Formats, fd.Format)
	}
	for rows.Next() {
		var (
			id                     int32
			name, city, ssn, email *string
			opened, born           pgtype.Date
			balance, salary        pgtype.Numeric
			card                   *int64
			token                  pgtype.UUID
		)
		if err := rows.Scan(&id, &name, &city, &opened, &balance, &ssn, &email, &card, &salary, &born, &token); err != nil {
			return clientCase{Err: "scan: " + err.Error()}
		}
		r.Rows = append(r.Rows, []string{strconv.Itoa(int(id)), str(name), str(city), date(opened), numeric(balance),
			str(ssn), str(email), int8Text(card), numeric(salary), date(born), uuidText(token)})
	}
	if err := rows.Err(); err != nil {
		return clientCase{Err: errText(err)}
	}
	return r
}

func str(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

func int8Text(n *int64) string {
	if n == nil {
		return "NULL"
	}
	return strconv.FormatInt(*n, 10)
}

func date(d pgtype.Date) string {
	if !d.Valid {
		return "NULL"
	}
	return d.Time.Format(time.DateOnly)
}

func numeric(n pgtype.Numeric) string {
	if !n.Valid {
		return "NULL"
	}
	f, err := n.Float64Value()
	if err != nil {
		return "invalid numeric: " + err.Error()
	}
	return strconv.FormatFloat(f.Float64, 'f', 2, 64)
}

func uuidText(u pgtype.UUID) string {
	if !u.Valid {
		return "NULL"
	}
	b := u.Bytes
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return err.Error()
}

func encodeCase(r clientCase) string {
	b, err := json.Marshal(r)
	if err != nil {
		return `{"err": "encoding the case failed"}`
	}
	return string(b)
}

// wireRecorder keeps every byte the client reads from the server.
type wireRecorder struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (r *wireRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.got.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

func (r *wireRecorder) received() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got.Bytes())
}

// runMaskingClients runs the masking-clients scenario in cgroup cg and returns its cases by
// name, with the bytes each one received.
func (w *world) runMaskingClients(cg string) (map[string]clientCase, map[string][]byte) {
	w.t.Helper()
	dir := w.t.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), clientEnv+"=masking-clients", wireDirEnv+"="+dir,
		"SLUICE_E2E_DSN=postgres://workload:"+workloadPassword+"@"+w.dbAddr+"/app?sslmode=disable")
	out, err := testenv.Output(cg, cmd)
	if err != nil {
		w.t.Fatalf("pgx client: %v\n%s", err, out)
	}
	cases, wire := map[string]clientCase{}, map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r clientCase
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			w.t.Fatalf("pgx client printed %q: %v", line, err)
		}
		cases[r.Case] = r
		if wire[r.Case], err = os.ReadFile(filepath.Join(dir, r.Case+".wire")); err != nil {
			w.t.Fatal(err)
		}
	}
	if len(cases) != len(maskingQueryCases)+len(maskingCopyCases) {
		w.t.Fatalf("pgx client reported %d cases:\n%s", len(cases), out)
	}
	return cases, wire
}

// rawForms are the seeded sensitive values as they would appear on the wire: the text
// form of each masked column's value, and its binary encoding.
func rawForms(t *testing.T) [][]byte {
	t.Helper()
	m := pgtype.NewMap()
	var forms [][]byte
	for _, row := range accountRows {
		for i, col := range accountColumns {
			if !col.masked || row[i] == "NULL" {
				continue
			}
			forms = append(forms, []byte(row[i]))
			typ, _ := m.TypeForOID(col.oid)
			v, err := typ.Codec.DecodeValue(m, col.oid, pgtype.TextFormatCode, []byte(row[i]))
			if err != nil {
				t.Fatal(err)
			}
			bin, err := m.Encode(col.oid, pgtype.BinaryFormatCode, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			forms = append(forms, bin)
		}
	}
	return forms
}

// leaks names the raw sensitive values found in b.
func leaks(b []byte, forms [][]byte) []string {
	var found []string
	for _, f := range forms {
		if bytes.Contains(b, f) {
			found = append(found, strconv.Quote(string(f)))
		}
	}
	return found
}

// checkMaskedRow compares a row (in accountRows' form) with the seeded one: unmasked
// columns intact, masked ones masked as their rules say. hashes collects the hashed values
// per row and column, which must agree between cases (text and binary clients alike).
func checkMaskedRow(t *testing.T, where string, got []string, hashes map[string]string) {
	t.Helper()
	if len(got) != len(accountColumns) {
		t.Errorf("%s: %d columns, want %d: %q", where, len(got), len(accountColumns), got)
		return
	}
	var want []string
	for _, r := range accountRows {
		if r[0] == got[0] {
			want = r
		}
	}
	if want == nil {
		t.Errorf("%s: unknown row %q", where, got)
		return
	}
	for i, col := range accountColumns {
		g, raw := got[i], want[i]
		if !col.masked || raw == "NULL" {
			if g != raw {
				t.Errorf("%s: row %s %s = %q, want %q", where, got[0], col.name, g, raw)
			}
			continue
		}
		var ok bool
		switch col.name {
		case "ssn":
			ok = g == strings.Repeat("X", len(raw)-4)+raw[len(raw)-4:]
		case "email":
			at := strings.IndexByte(raw, '@')
			ok = g == strings.Repeat("x", at)+raw[at:]
		case "salary":
			ok = g == "0"+raw[len(raw)-3:] // every digit but the last two zeroed
		case "born":
			ok = g == "1900-01-01"
		case "card", "token":
			key := got[0] + "/" + col.name
			if prev, seen := hashes[key]; seen {
				ok = g == prev
			} else {
				hashes[key] = g
				ok = g != raw && (col.name == "card" && !strings.HasPrefix(g, "-") || col.name == "token" && len(g) == 36 && g[14] == '8')
			}
		}
		if !ok {
			t.Errorf("%s: row %s %s = %q, not masked as its rule says (seeded %q)", where, got[0], col.name, g, raw)
		}
	}
}

// textCopyRows parses COPY text format: tab-separated, \N for NULL, backslash escapes.
func textCopyRows(t *testing.T, where, data string) [][]string {
	t.Helper()
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		var row []string
		for _, field := range strings.Split(line, "\t") {
			if field == `\N` {
				row = append(row, "NULL")
				continue
			}
			var b strings.Builder
			for i := 0; i < len(field); i++ {
				if field[i] != '\\' || i+1 == len(field) {
					b.WriteByte(field[i])
					continue
				}
				i++
				switch field[i] {
				case 't':
					b.WriteByte('\t')
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(field[i])
				}
			}
			row = append(row, b.String())
		}
		rows = append(rows, normalizeCopyRow(row))
	}
	if len(rows) != len(accountRows) {
		t.Errorf("%s: %d rows, want %d: %q", where, len(rows), len(accountRows), data)
	}
	return rows
}

// csvCopyRows parses COPY CSV format with a header line; an unquoted empty field is NULL.
func csvCopyRows(t *testing.T, where, data string) [][]string {
	t.Helper()
	// encoding/csv does not tell quoted from unquoted empty fields; no seeded value is
	// the empty string, so empty means NULL here.
	recs, err := csv.NewReader(strings.NewReader(data)).ReadAll()
	if err != nil {
		t.Errorf("%s: CSV does not parse: %v\n%s", where, err, data)
		return nil
	}
	var header []string
	for _, c := range accountColumns {
		header = append(header, c.name)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], header) {
		t.Errorf("%s: header %q, want %q", where, recs, header)
		return nil
	}
	var rows [][]string
	for _, rec := range recs[1:] {
		for i, f := range rec {
			if f == "" {
				rec[i] = "NULL"
			}
		}
		rows = append(rows, normalizeCopyRow(rec))
	}
	if len(rows) != len(accountRows) {
		t.Errorf("%s: %d rows, want %d: %q", where, len(rows), len(accountRows), data)
	}
	return rows
}

// normalizeCopyRow parses the numeric columns of a COPY row as a client would, so that a
// masked numeric's text ("00000.43") compares with the decoded one (0.43); a value that
// does not parse is kept as it is and fails the comparison.
func normalizeCopyRow(row []string) []string {
	for i, col := range accountColumns {
		if i < len(row) && col.oid == pgtype.NumericOID && row[i] != "NULL" {
			if f, err := strconv.ParseFloat(row[i], 64); err == nil {
				row[i] = strconv.FormatFloat(f, 'f', 2, 64)
			}
		}
	}
	return row
}

// Issue 7, acceptance 3 (and 2) through the whole data path: unmodified pgx and psql
// clients in an enforced cgroup read masked values of text, varchar, int8, numeric, date
// and uuid columns, in text and binary result formats and as COPY text and CSV, and
// decode every one without error; no seeded sensitive value, in its text form or its
// binary encoding, is among the bytes they receive; unmasked columns come back intact;
// binary COPY of masked columns is refused and leaves the session usable. An identity
// whose group is cleared reads the same statements and sees the real values.
func TestMaskingClients(t *testing.T) {
	w := newWorld(t)
	if err := w.db.Exec(t.Context(), "\\c app\nSET ROLE sluice_app;\n"+accountsSchema); err != nil {
		t.Fatal(err)
	}
	w.configureMasking(accountsRules)
	w.startAgent()
	forms := rawForms(t)

	cases, wire := w.runMaskingClients(w.enforced("masked-job"))
	hashes := map[string]string{}
	for _, qc := range maskingQueryCases {
		r := cases[qc.name]
		if r.Err != "" || r.After != "1" {
			t.Errorf("%s: error %q, SELECT 1 after it: %q", qc.name, r.Err, r.After)
			continue
		}
		if len(r.Rows) != len(accountRows) {
			t.Errorf("%s: %d rows, want %d", qc.name, len(r.Rows), len(accountRows))
		}
		for _, row := range r.Rows {
			checkMaskedRow(t, qc.name, row, hashes)
		}
		if len(r.Formats) != len(accountColumns) {
			t.Errorf("%s: %d result formats for %d columns", qc.name, len(r.Formats), len(accountColumns))
			continue
		}
		for i, col := range accountColumns {
			// pgx reads these types in binary when it knows the result's types.
			wantBinary := qc.binary == "all" || qc.binary == "pgx" && col.oid != pgtype.TextOID && col.oid != pgtype.VarcharOID
			if (r.Formats[i] == 1) != wantBinary {
				t.Errorf("%s: column %s in format %d, want binary=%v", qc.name, col.name, r.Formats[i], wantBinary)
			}
		}
	}
	for _, name := range []string{"copy-text", "copy-csv"} {
		r := cases[name]
		if r.Err != "" || r.After != "1" {
			t.Errorf("%s: error %q, SELECT 1 after it: %q", name, r.Err, r.After)
			continue
		}
		parse := textCopyRows
		if name == "copy-csv" {
			parse = csvCopyRows
		}
		for _, row := range parse(t, name, r.Copy) {
			checkMaskedRow(t, name, row, hashes)
		}
	}
	if r := cases["copy-binary"]; r.Err != "42501" || r.After != "1" || r.Copy != "" {
		t.Errorf("binary COPY of masked columns: error %q, %d bytes of data, SELECT 1 after it: %q; want it refused (42501) and the session usable", r.Err, len(r.Copy), r.After)
	}
	for name, b := range wire {
		if l := leaks(b, forms); len(l) > 0 {
			t.Errorf("%s: the client received raw values %s", name, strings.Join(l, ", "))
		}
	}

	// psql, as a person or a script uses it: a query, and \copy to stdout and to a file.
	cg := w.enforced("psql-job")
	file := filepath.Join(w.dir, "accounts.copy")
	psqlCases := []struct{ name, cmd string }{
		{"psql select", accountsQuery},
		{"psql \\copy text", `\copy (` + accountsQuery + `) to stdout`},
		{"psql \\copy csv", `\copy accounts to stdout with (format csv, header)`},
		{"psql \\copy file", `\copy accounts to '` + file + `'`},
	}
	for _, pc := range psqlCases {
		out, err := w.psqlOut(cg, pc.cmd)
		if err != nil {
			t.Errorf("%s: %v\n%s", pc.name, err, out)
			continue
		}
		if l := leaks([]byte(out), forms); len(l) > 0 {
			t.Errorf("%s: psql printed raw values %s", pc.name, strings.Join(l, ", "))
		}
		var rows [][]string
		switch pc.name {
		case "psql select":
			for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				row := strings.Split(line, "|")
				for i, f := range row {
					if f == "" {
						row[i] = "NULL"
					}
				}
				rows = append(rows, normalizeCopyRow(row))
			}
		case "psql \\copy csv":
			rows = csvCopyRows(t, pc.name, out)
		case "psql \\copy file":
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if l := leaks(data, forms); len(l) > 0 {
				t.Errorf("%s: the file holds raw values %s", pc.name, strings.Join(l, ", "))
			}
			rows = textCopyRows(t, pc.name, string(data))
		default:
			rows = textCopyRows(t, pc.name, out)
		}
		if len(rows) != len(accountRows) {
			t.Errorf("%s: %d rows, want %d:\n%s", pc.name, len(rows), len(accountRows), out)
		}
		for _, row := range rows {
			checkMaskedRow(t, pc.name, row, hashes)
		}
	}
	out, err := w.psqlOut(cg, `\copy accounts to stdout with (format binary)`)
	if err == nil || !strings.Contains(out, "binary") || len(leaks([]byte(out), forms)) > 0 {
		t.Errorf("psql binary \\copy: %v\n%q\nwant it refused, naming binary COPY", err, out)
	}

	// Acceptance 2 with every client mode: the auditors group reads the same statements
	// in clear.
	cleared, clearWire := w.runMaskingClients(w.enforcedWithGroups("auditor-job", "auditors"))
	// The leak check sees raw values where they are: each text form and binary encoding
	// is among the bytes the auditor received.
	var all []byte
	for _, b := range clearWire {
		all = append(all, b...)
	}
	if l := leaks(all, forms); len(l) != len(forms) {
		t.Errorf("the auditor received only %d of the %d raw forms: %s", len(l), len(forms), strings.Join(l, ", "))
	}
	for _, qc := range maskingQueryCases {
		if r := cleared[qc.name]; r.Err != "" || !slices.EqualFunc(r.Rows, accountRows, slices.Equal) {
			t.Errorf("auditor, %s: %q %q, want the seeded values", qc.name, r.Rows, r.Err)
		}
	}
	if r := cleared["copy-csv"]; r.Err != "" || !slices.EqualFunc(csvCopyRows(t, "auditor copy-csv", r.Copy), accountRows, slices.Equal) {
		t.Errorf("auditor, copy-csv: %q %q, want the seeded values", r.Copy, r.Err)
	}
	if r := cleared["copy-binary"]; r.Err != "" {
		t.Errorf("auditor, binary COPY: %q, want it allowed (nothing is masked for the auditors)", r.Err)
	}
}

// psqlOut runs psql in cgroup cg like psql, but keeps its standard output apart from its
// standard error and untrimmed, so that COPY data parses exactly as received.
func (w *world) psqlOut(cg, command string) (string, error) {
	w.t.Helper()
	host, port, _ := net.SplitHostPort(w.dbAddr)
	cmd := exec.Command("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", port, "-U", "workload", "-d", "app", "-c", command)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+workloadPassword, "PGCONNECT_TIMEOUT=5", "PGSSLMODE=disable")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	testenv.Start(w.t, cg, cmd)
	err := cmd.Wait()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// configureMasking writes rules and a hash key beside the world's config and turns masking
// on in it; the agent reads them when it starts.
func (w *world) configureMasking(rules string) {
	w.t.Helper()
	rulesFile := filepath.Join(w.dir, "masking.yaml")
	keyFile := filepath.Join(w.dir, "masking.key")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte("an e2e hash key of at least thirty-two bytes"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		w.t.Fatal(err)
	}
	w.writeConfig(string(cfg) + "masking:\n  rules_file: " + rulesFile + "\n  hash_key_file: " + keyFile + "\n")
}
