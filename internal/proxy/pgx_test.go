package proxy

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// resultOf runs sql with args on conn in the given mode and returns every row as strings.
func resultOf(t *testing.T, conn *pgx.Conn, mode pgx.QueryExecMode, sql string, args ...any) [][]any {
	t.Helper()
	rows, err := conn.Query(t.Context(), sql, append([]any{mode}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var got [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return got
}

// TestPgxSameResultsAsDirect runs the same queries in every pgx execution mode directly and
// through the proxy and expects identical results.
func TestPgxSameResultsAsDirect(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	via, direct := p.connect(t), p.direct(t)
	queries := []struct {
		sql  string
		args []any
	}{
		{"select 1::int4, 'x'::text, null::bool", nil},
		{"select g, md5(g::text), g * 1.5 from generate_series(1, 2000) g", nil},
		{"select $1::int8 + 1, $2::text || '!'", []any{int64(41), "hi"}},
		{"select oid, typname from pg_type order by oid limit 50", nil},
		{"select current_user, current_database(), current_setting('application_name')", nil},
	}
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec,
		pgx.QueryExecModeDescribeExec, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeCacheStatement}
	for _, mode := range modes {
		for _, q := range queries {
			got := resultOf(t, via, mode, q.sql, q.args...)
			want := resultOf(t, direct, mode, q.sql, q.args...)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("mode %v, %s:\nproxy  %v\ndirect %v", mode, q.sql, got[:min(3, len(got))], want[:min(3, len(want))])
			}
		}
	}
}

// TestPgxErrorsKeepSession checks that a failing statement reaches the client as the
// server's error and the session stays usable, in both protocols.
func TestPgxErrorsKeepSession(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		_, err := conn.Exec(t.Context(), "select 1/0", mode)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("22012")) {
			t.Fatalf("mode %v: select 1/0 = %v, want SQLSTATE 22012", mode, err)
		}
		var n int
		if err := conn.QueryRow(t.Context(), "select 7", mode).Scan(&n); err != nil || n != 7 {
			t.Fatalf("mode %v: after the error, select 7 = %d, %v", mode, n, err)
		}
	}
}

// TestPgxBatchPipeline sends a batch (one pipelined round trip of Parse/Bind/Execute per
// statement, one Sync) through the proxy.
func TestPgxBatchPipeline(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	ctx := t.Context()
	if _, err := conn.Exec(ctx, "create temp table b(i int primary key, s text)"); err != nil {
		t.Fatal(err)
	}
	batch := &pgx.Batch{}
	for i := range 500 {
		batch.Queue("insert into b values ($1, $2)", i, fmt.Sprint("row ", i))
	}
	batch.Queue("select count(*), sum(i) from b")
	res := conn.SendBatch(ctx, batch)
	for range 500 {
		if _, err := res.Exec(); err != nil {
			t.Fatal(err)
		}
	}
	var count, sum int64
	if err := res.QueryRow().Scan(&count, &sum); err != nil {
		t.Fatal(err)
	}
	if err := res.Close(); err != nil {
		t.Fatal(err)
	}
	if count != 500 || sum != 499*500/2 {
		t.Fatalf("count, sum = %d, %d", count, sum)
	}
}

// TestPgxLargeBytea moves a 64 MiB bytea value both ways through the proxy, in the binary
// (extended protocol) and text (simple protocol) formats.
func TestPgxLargeBytea(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	conn := p.connect(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	want := make([]byte, 64<<20)
	for i := range want {
		want[i] = byte(i * 7 / 3)
	}
	if _, err := conn.Exec(ctx, "create temp table blob(b bytea)"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "insert into blob values ($1)", want); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		var got []byte
		if err := conn.QueryRow(ctx, "select b from blob", mode).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("mode %v: bytea of %d bytes came back as %d different bytes", mode, len(want), len(got))
		}
	}
}
