package catalog

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

const schema = `
CREATE SCHEMA s;
CREATE TABLE s.t (id int, secret text, gen text GENERATED ALWAYS AS (upper(secret)) STORED);
CREATE TABLE public.t (id int);
CREATE VIEW s.v AS SELECT id, secret AS hidden FROM s.t;
CREATE TABLE parent (id int, x text);
CREATE TABLE child () INHERITS (parent);
CREATE DOMAIN code AS varchar(10);
CREATE FUNCTION s.f() RETURNS text LANGUAGE sql AS 'SELECT secret FROM s.t';
CREATE FUNCTION s.g() RETURNS text LANGUAGE plpgsql AS 'BEGIN RETURN 1; END';
CREATE FUNCTION s.h() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT secret FROM s.t; END;
`

func open(t *testing.T) (*Conn, *pglocal.Server) {
	t.Helper()
	pg := testenv.Postgres(t, pglocal.Options{})
	if err := pg.Exec(context.Background(), schema); err != nil {
		t.Fatal(err)
	}
	c := New(func(ctx context.Context) (*pgconn.PgConn, error) {
		return pgconn.Connect(ctx, pg.ConnString("postgres", "postgres"))
	}, Options{})
	t.Cleanup(func() { c.Close() })
	return c, pg
}

func TestRelations(t *testing.T) {
	c, _ := open(t)
	ctx := context.Background()
	any, err := c.Named(ctx, "", "t")
	if err != nil || len(any) != 2 {
		t.Fatalf("unqualified t: %v %v, want the tables of both schemas", any, err)
	}
	only, err := c.Named(ctx, "s", "t")
	if err != nil || len(only) != 1 {
		t.Fatalf("s.t: %v %v", only, err)
	}
	rel, err := c.Relation(ctx, only[0])
	if err != nil || rel.Kind != 'r' || len(rel.Columns) != 3 {
		t.Fatalf("s.t: %+v %v", rel, err)
	}
	if g := rel.Columns[2]; !g.Generated || len(g.GeneratedFrom) != 1 || g.GeneratedFrom[0] != 2 {
		t.Errorf("generated column: %+v", g)
	}
	views, _ := c.Named(ctx, "s", "v")
	v, err := c.Relation(ctx, views[0])
	if err != nil || v.Kind != 'v' {
		t.Fatal(v, err)
	}
	if !strings.Contains(v.ViewDef, "FROM s.t") {
		t.Errorf("view definition not schema-qualified: %q", v.ViewDef)
	}
	if len(v.Depends) == 0 || v.Depends[0].Rel != only[0] {
		t.Errorf("view dependencies: %+v", v.Depends)
	}
	parents, _ := c.Named(ctx, "public", "parent")
	p, _ := c.Relation(ctx, parents[0])
	children, _ := c.Named(ctx, "public", "child")
	ch, _ := c.Relation(ctx, children[0])
	if len(p.Children) != 1 || p.Children[0] != ch.OID || len(ch.Parents) != 1 || ch.Parents[0] != p.OID {
		t.Errorf("inheritance: parent %+v child %+v", p, ch)
	}
	if r, err := c.Relation(ctx, 1); r != nil || err != nil {
		t.Errorf("OID 1: %v %v, want none", r, err)
	}
}

func TestTypesAndCasts(t *testing.T) {
	c, pg := open(t)
	ctx := context.Background()
	out, err := pg.Query(ctx, "SELECT 'code'::regtype::oid")
	if err != nil {
		t.Fatal(err)
	}
	var code uint32
	for _, ch := range out {
		code = code*10 + uint32(ch-'0')
	}
	typ, err := c.Type(ctx, code)
	if err != nil || typ.Base != 1043 {
		t.Fatalf("domain: %+v %v", typ, err)
	}
	if typ, _ := c.Type(ctx, 25); typ.Category != 'S' {
		t.Errorf("text: %+v", typ)
	}
	text, bin, err := c.Cast(ctx, "42", 23, -1)
	if err != nil || string(text) != "42" || len(bin) != 4 || bin[3] != 42 {
		t.Errorf("int4 cast: %q %x %v", text, bin, err)
	}
	// An explicit cast to varchar(n) truncates, as the server's own casts do: the result
	// is valid for the column.
	if text, _, err := c.Cast(ctx, "toolong", 1043, 4+3); err != nil || string(text) != "too" {
		t.Errorf("varchar(3): %q %v", text, err)
	}
	if _, _, err := c.Cast(ctx, "x'); DROP TABLE s.t; --", 23, -1); err == nil {
		t.Error("an invalid integer was accepted")
	}
	if ids, _ := c.Named(ctx, "s", "t"); len(ids) != 1 {
		t.Error("the cast's value reached SQL")
	}
}

func TestFunctions(t *testing.T) {
	c, _ := open(t)
	ctx := context.Background()
	for _, x := range []struct {
		name, lang string
		atomic     bool
	}{{"f", "sql", false}, {"g", "plpgsql", false}, {"h", "sql", true}} {
		fs, err := c.Functions(ctx, "s", x.name)
		if err != nil || len(fs) != 1 {
			t.Fatalf("%s: %v %v", x.name, fs, err)
		}
		f := fs[0]
		if f.Language != x.lang || f.Atomic != x.atomic {
			t.Errorf("%s: %+v", x.name, f)
		}
		if x.name == "f" && !strings.Contains(f.Source, "SELECT secret") {
			t.Errorf("f's source: %q", f.Source)
		}
		if x.atomic && len(f.Depends) == 0 {
			t.Errorf("h's dependencies are not recorded: %+v", f)
		}
	}
	if fs, _ := c.Functions(ctx, "", "lower"); len(fs) == 0 || fs[0].Schema != "pg_catalog" {
		t.Errorf("lower: %+v", fs)
	}
}

// TestInvalidateAndReconnect: answers are cached until Invalidate; a catalog connection
// that dies is replaced on the next question.
func TestInvalidateAndReconnect(t *testing.T) {
	c, pg := open(t)
	ctx := context.Background()
	ids, _ := c.Named(ctx, "s", "t")
	before, _ := c.Relation(ctx, ids[0])
	if err := pg.Exec(ctx, "ALTER TABLE s.t ADD COLUMN extra int"); err != nil {
		t.Fatal(err)
	}
	if cached, _ := c.Relation(ctx, ids[0]); len(cached.Columns) != len(before.Columns) {
		t.Fatal("not cached")
	}
	gen := c.Generation()
	c.Invalidate()
	if c.Generation() == gen {
		t.Error("generation did not change")
	}
	after, err := c.Relation(ctx, ids[0])
	if err != nil || len(after.Columns) != len(before.Columns)+1 {
		t.Fatalf("after Invalidate: %+v %v", after, err)
	}
	if err := pg.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sluice masking catalog'"); err != nil {
		t.Fatal(err)
	}
	c.Invalidate()
	// The first question may meet the dead connection; the next one reconnects.
	if _, err := c.Named(ctx, "s", "t"); err != nil {
		if _, err := c.Named(ctx, "s", "t"); err != nil {
			t.Fatalf("no reconnect: %v", err)
		}
	}
}
