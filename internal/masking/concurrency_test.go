package masking

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestConcurrentDirections drives a session as the proxy does, the client direction
// (Check, Sent, send) and the server direction (Wants, ServerMessage) on two goroutines,
// with pipelined simple and extended requests, some refused; run with -race it checks the
// session's locking, and the results must still be masked and attributed in order.
func TestConcurrentDirections(t *testing.T) {
	f := newFixture(t, seedSchema, seedRules)
	w := f.open(t)
	requests := [][]pgproto3.FrontendMessage{
		{&pgproto3.Query{String: "SELECT ssn FROM customers ORDER BY id"}},
		{&pgproto3.Query{String: "SELECT lower(ssn) FROM customers"}},
		{&pgproto3.Parse{Query: "SELECT card, email FROM customers ORDER BY id"}, &pgproto3.Describe{ObjectType: 'S'},
			&pgproto3.Bind{ResultFormatCodes: []int16{1}}, &pgproto3.Execute{}, &pgproto3.Sync{}},
		{&pgproto3.Query{String: "COPY (SELECT id, api_key FROM customers) TO STDOUT"}},
		{&pgproto3.Parse{Query: "SELECT md5(ssn) FROM customers"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{}},
		{&pgproto3.Query{String: "SELECT shipped_to FROM orders ORDER BY id"}},
	}
	const repeat = 20
	done := make(chan error, 1)
	go func() {
		for range repeat {
			for _, req := range requests {
				swallow := false
				for _, m := range req {
					if swallow {
						if _, ok := m.(*pgproto3.Sync); !ok {
							continue
						}
						swallow = false
					}
					v := w.sess.Check(context.Background(), m)
					if v.Deny {
						w.sess.Sent(v, true)
						if _, ok := m.(*pgproto3.Query); ok {
							w.fe.Send(&pgproto3.Query{String: `FETCH "sluice_deny_test"`})
						} else {
							w.fe.Send(&pgproto3.Execute{Portal: "sluice_deny_test"})
							swallow = true
						}
						continue
					}
					w.sess.Sent(v, false)
					w.fe.Send(m)
				}
				if err := w.fe.Flush(); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	var received strings.Builder
	ready := 0
	for ready < repeat*len(requests) {
		w.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		msg, err := w.fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := msg.(*pgproto3.DataRow); ok {
			w.sess.Wants('D')
		}
		out, err := w.sess.ServerMessage(msg)
		if err != nil {
			t.Fatalf("%T: %v", msg, err)
		}
		if out == nil {
			out = msg
		}
		buf, _ := out.Encode(nil)
		received.Write(buf)
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			ready++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := received.String()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("leaked %q", s)
		}
	}
	if n := strings.Count(got, "XXXXXXX6789"); n != repeat {
		t.Errorf("masked ssn seen %d times, want %d", n, repeat)
	}
	if n := strings.Count(got, "Berlin"); n != repeat {
		t.Errorf("clean rows seen %d times, want %d", n, repeat)
	}
}
