//go:build !race

package proxy

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// socketIO returns what the relay reads from and writes to for conn: a rawSocket for a
// plain TCP connection, conn itself for anything else (TLS).
func socketIO(conn net.Conn) io.ReadWriter {
	if tc, ok := conn.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			return newRawSocket(rc)
		}
	}
	return conn
}

// rawSocket reads and writes a TCP connection with raw system calls, waiting in the
// netpoller exactly as net.TCPConn does (deadlines and Close work the same).
//
// Why: the socket is non-blocking, so a read or write never waits in the kernel (it fails
// with EAGAIN, and the goroutine parks until the socket is ready). net.TCPConn still
// tells the scheduler that each one may block, and when one runs longer than 20 µs, as a
// loopback write that wakes its receiver often does on a busy machine, sysmon hands the
// P to another thread, which has to be woken, and the writer then has to find a P again;
// sysmon itself then polls every 20 µs. Under pgbench -S (8 clients, simple protocol, 2
// cores) raw calls took the proxy from 34-37 to 25-27 µs of CPU time per transaction
// (BenchmarkPgbenchSelect) and from 2.1 to 1.2 context switches (perf stat).
//
// One goroutine reads and another writes (the two directions of the relay), so each
// side has its own state. The callbacks are bound once, so an I/O call allocates nothing.
type rawSocket struct {
	rc syscall.RawConn

	rbuf  []byte
	rn    int
	rerr  syscall.Errno
	rcall func(fd uintptr) bool

	wbuf   []byte
	wn     int
	werr   syscall.Errno
	wshort bool
	wcall  func(fd uintptr) bool
}

func newRawSocket(rc syscall.RawConn) *rawSocket {
	s := &rawSocket{rc: rc}
	s.rcall, s.wcall = s.read, s.write
	return s
}

// Read reads what the socket holds, up to len(p) bytes, waiting for at least one byte.
func (s *rawSocket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.rbuf, s.rn, s.rerr = p, 0, 0
	err := s.rc.Read(s.rcall)
	n, errno := s.rn, s.rerr
	s.rbuf = nil
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is the RawConn callback of Read: false means wait until the socket is readable.
func (s *rawSocket) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&s.rbuf[0])), uintptr(len(s.rbuf)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		case 0:
			s.rn = int(r)
		default:
			s.rerr = e
		}
		return true
	}
}

// Write writes all of p, waiting for room in the socket's buffer as needed.
func (s *rawSocket) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.wbuf, s.wn, s.werr, s.wshort = p, 0, 0, false
	err := s.rc.Write(s.wcall)
	n, errno, short := s.wn, s.werr, s.wshort
	s.wbuf = nil
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, os.NewSyscallError("write", errno)
	case short:
		return n, io.ErrShortWrite
	}
	return n, nil
}

// write is the RawConn callback of Write: false means wait until the socket is writable.
func (s *rawSocket) write(fd uintptr) bool {
	for s.wn < len(s.wbuf) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&s.wbuf[s.wn])), uintptr(len(s.wbuf)-s.wn))
		switch {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return false
		case e != 0:
			s.werr = e
			return true
		case r == 0: // sockets never do this; do not spin on it
			s.wshort = true
			return true
		default:
			s.wn += int(r)
		}
	}
	return true
}
