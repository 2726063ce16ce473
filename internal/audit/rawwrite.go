package audit

import (
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// segmentWriter writes records to the segment with raw write(2) calls while the disk keeps
// up. os.File.Write tells the Go scheduler that each call may block; an append to the
// page cache usually does not, but one that takes over 20 µs makes the runtime's monitor
// hand this thread's processor to another thread, and that handoff (and the monitor's
// 20 µs polling that follows) cost the agent more than the write itself under pgbench.
// (Measured when every statement's record was a write; with the journal a batch write
// every SyncWindow takes ~40 µs for ~100 records, still past that threshold.) A raw call that does block holds its
// processor, though, and with the agent's default of one processor nothing else would
// run (control socket, metrics, sessions not waiting on the log). So once a write takes
// longer than slowWrite, writes go through the scheduler again for slowPeriod.
type segmentWriter struct {
	slowUntil time.Time
}

const (
	slowWrite  = time.Millisecond
	slowPeriod = 10 * time.Second
)

// write writes all of b to f.
func (sw *segmentWriter) write(f *os.File, b []byte) error {
	start := time.Now()
	if start.Before(sw.slowUntil) {
		_, err := f.Write(b)
		return err
	}
	err := writeAll(f, b)
	if time.Since(start) > slowWrite {
		sw.slowUntil = time.Now().Add(slowPeriod)
	}
	return err
}

// writeAll writes b with raw write(2) calls.
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
