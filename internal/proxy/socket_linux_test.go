//go:build !race

package proxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// The raw socket must behave as the net.Conn it replaces: whole writes larger than the
// socket buffers (waiting for room), reads of what arrived, EOF, deadlines, and a Close
// from another goroutine ending a read that waits.
func TestRawSocket(t *testing.T) {
	a, b := tcpPair(t)
	ra, rb := socketIO(a), socketIO(b)
	if _, ok := ra.(*rawSocket); !ok {
		t.Fatalf("socketIO(*net.TCPConn) = %T, want *rawSocket", ra)
	}

	payload := make([]byte, 16<<20) // far more than loopback socket buffers hold
	rand.Read(payload)
	written := make(chan error, 1)
	go func() {
		n, err := ra.Write(payload)
		if err == nil && n != len(payload) {
			err = io.ErrShortWrite
		}
		written <- err
		a.CloseWrite()
	}()
	got, err := io.ReadAll(rb) // reads until the EOF that CloseWrite sends
	if err != nil {
		t.Fatal(err)
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, not the %d written", len(got), len(payload))
	}
	if n, err := rb.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after EOF: %d, %v", n, err)
	}

	// b still writes to a, which has sent its FIN but not stopped reading.
	if _, err := rb.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := ra.Read(buf); err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("read %q, %v; want pong", buf[:n], err)
	}

	a.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := ra.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	a.SetReadDeadline(time.Time{})

	read := make(chan error, 1)
	go func() {
		_, err := ra.Read(buf)
		read <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the read wait in the netpoller
	a.Close()
	select {
	case err := <-read:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a waiting read")
	}
	if _, err := ra.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
}
