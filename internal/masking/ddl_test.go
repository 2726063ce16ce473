package masking

import (
	"context"
	"strings"
	"testing"
)

// TestNewRelationsSeen: a relation that did not exist when a statement was first planned
// (created later, through sluice or behind its back) is seen when it exists: nothing about
// a missing name is cached.
func TestNewRelationsSeen(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	const probe = "SELECT lower(x) FROM later"
	if r := w.query(probe); r.denied != nil || len(r.errors) != 1 {
		t.Fatalf("before the view exists: %s", r)
	}
	if err := f.pg.Exec(context.Background(), "CREATE VIEW later AS SELECT ssn AS x FROM customers"); err != nil {
		t.Fatal(err)
	}
	w.received = nil
	if r := w.query(probe); r.denied == nil {
		t.Fatalf("after a DBA created the view over a masked column: %s", r)
	}
	// DDL through sluice: the new table's column matches *.*.ssn and is masked at once.
	r := w.query("CREATE TABLE fresh (id int, ssn text); INSERT INTO fresh VALUES (1, '999-99-1234')")
	if r.denied != nil || len(r.errors) > 0 {
		t.Fatal(r)
	}
	w.received = nil
	r = w.query("SELECT ssn FROM fresh")
	if got, _ := r.cell(0, 0); got != "XXXXXXX1234" || strings.Contains(string(w.received), "999-99") {
		t.Fatalf("new table's masked column: %s", r)
	}
}

// TestRedefinedViewAfterInvalidate: a view redefined outside sluice keeps its OID; once
// the catalog is invalidated (DDL through sluice, or the TTL) the new definition counts.
func TestRedefinedViewAfterInvalidate(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	if err := f.pg.Exec(context.Background(), "CREATE VIEW shifting AS SELECT id, name AS label FROM customers"); err != nil {
		t.Fatal(err)
	}
	if r := w.query("SELECT upper(label) FROM shifting"); r.denied != nil {
		t.Fatalf("clean view refused: %s", r)
	}
	if err := f.pg.Exec(context.Background(), "CREATE OR REPLACE VIEW shifting AS SELECT id, api_key AS label FROM customers"); err != nil {
		t.Fatal(err)
	}
	// DDL through sluice (any) invalidates what the catalog knew.
	if r := w.query("CREATE TABLE unrelated (x int)"); r.denied != nil || len(r.errors) > 0 {
		t.Fatal(r)
	}
	w.received = nil
	if r := w.query("SELECT upper(label) FROM shifting"); r.denied == nil {
		t.Fatalf("redefined view not seen after DDL: %s", r)
	}
	r := w.query("SELECT label FROM shifting")
	if r.denied != nil || strings.Contains(string(w.received), "sk_live") {
		t.Fatalf("plain column of the redefined view: %s", r)
	}
}

// TestShadowedCount: count() is trusted to return a number only while no user-defined
// function of that name exists; a count(text) that returns its argument would otherwise
// win overload resolution and return masked values.
func TestShadowedCount(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	if r := w.query("SELECT count(api_key) FROM customers"); r.denied != nil {
		t.Fatalf("built-in count refused: %s", r)
	}
	if err := f.pg.Exec(context.Background(), "CREATE FUNCTION public.count(text) RETURNS text LANGUAGE plpgsql AS 'BEGIN RETURN $1; END'"); err != nil {
		t.Fatal(err)
	}
	f.cat.Invalidate()
	w.received = nil
	r := w.query("SELECT count(api_key) FROM customers")
	if r.denied == nil || strings.Contains(string(w.received), "sk_live") {
		t.Fatalf("shadowed count: %s", r)
	}
}
