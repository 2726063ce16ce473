package audit

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// writeAll writes b to the segment with raw write(2) calls. os.File.Write tells the Go
// scheduler that each call may block; an append to the page cache usually does not, but
// one that takes over 20 µs makes the runtime's monitor hand this thread's processor to
// another thread, and that handoff (and the monitor's 20 µs polling that follows) cost the
// agent more than the write itself under pgbench: the write-ahead record is one write per
// statement. A write that does block (a slow disk) holds the processor meanwhile; every
// appender waits for it anyway, since the log's lock is held across it.
func writeAll(f *os.File, b []byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
			switch {
			case e == syscall.EINTR:
				continue
			case e != 0:
				werr = &os.PathError{Op: "write", Path: f.Name(), Err: e}
				return true
			case n == 0:
				werr = io.ErrShortWrite
				return true
			}
			b = b[n:]
		}
		return true
	})
	if err != nil {
		return err
	}
	return werr
}
