package proxy

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// psqlRun is what one psql run produced: its output streams and the file \copy wrote.
type psqlRun struct {
	stdout, stderr, copied string
}

// psqlBoth runs script with psql through the proxy and straight to PostgreSQL, each time in
// a freshly created database db. In the script, DIR stands for a directory of its own per
// run, holding in.csv (written from csv) and whatever the script writes.
func psqlBoth(t *testing.T, p *testProxy, db, csv, script string) (viaProxy, direct psqlRun) {
	t.Helper()
	run := func(conn string) psqlRun {
		if err := p.pg.Exec(t.Context(), "drop database if exists "+db+"; create database "+db+";"); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "in.csv"), []byte(csv), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, _ := pgTool(t, strings.ReplaceAll(script, "DIR", dir), "psql", "-X", "-a", "-d", conn)
		copied, _ := os.ReadFile(filepath.Join(dir, "out.csv"))
		return psqlRun{strings.ReplaceAll(stdout, dir, "DIR"), strings.ReplaceAll(stderr, dir, "DIR"), string(copied)}
	}
	return run(p.connString(db, "disable")), run(directConnString(p.pg, db))
}

// TestPsqlScript runs a psql script with meta-commands (\d, \dt, \df, \copy both ways), a
// failing statement in the middle and a failing transaction, and expects exactly the same
// output, errors and copied file as when psql talks to PostgreSQL directly.
func TestPsqlScript(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	var csv strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&csv, "%s%d,%d\n", strings.Repeat("x", i%50), i, i*7)
	}
	script := `
create table t (name text, n bigint, primary key (name, n));
create index t_n on t (n);
\d t
\copy t from 'DIR/in.csv' csv
select count(*), sum(n) from t;
select no_such_column from t;
begin;
insert into t values ('tx', 1);
select 1/0;
rollback;
select count(*) from t where name = 'tx';
\copy (select * from t order by name, n) to 'DIR/out.csv' csv
\dt
\df now
`
	viaProxy, direct := psqlBoth(t, p, "psql_script", csv.String(), script)
	if viaProxy != direct {
		t.Fatalf("psql runs differ\n--- via proxy:\n%+v\n--- direct:\n%+v", viaProxy, direct)
	}
	for _, want := range []string{"Indexes:", "1000 |", "no_such_column", "division by zero"} {
		if !strings.Contains(viaProxy.stdout+viaProxy.stderr, want) {
			t.Errorf("psql output lacks %q:\n%s\n%s", want, viaProxy.stdout, viaProxy.stderr)
		}
	}
	if strings.Count(viaProxy.copied, "\n") != 1000 {
		t.Errorf("\\copy to wrote %d lines, want 1000", strings.Count(viaProxy.copied, "\n"))
	}
}

// TestPsqlErrorStopsScript checks ON_ERROR_STOP: psql sees the failing statement's error
// through the proxy and exits with status 3 right after it.
func TestPsqlErrorStopsScript(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	stdout, stderr, err := pgTool(t, "select 'before';\nselect 1/0;\nselect 'after';\n",
		"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", p.connString("postgres", "disable"))
	if code := exitCode(err); code != 3 {
		t.Fatalf("psql exit code %d (%v), want 3; stderr: %s", code, err, stderr)
	}
	if stdout != "before\n" || !strings.Contains(stderr, "division by zero") {
		t.Fatalf("stdout %q stderr %q", stdout, stderr)
	}
}

// exitCode is the exit status of a finished command, 0 for success.
func exitCode(err error) int {
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
