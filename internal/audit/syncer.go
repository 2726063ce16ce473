package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/selfexec"
)

// The batched policy fsyncs the segment every SyncWindow (5 ms) under load. Done in the
// agent, each fsync is a system call that blocks for milliseconds: the Go runtime hands the
// caller's processor to another thread for it, and its monitor thread (sysmon), having had
// to act, goes back to polling every 20 us. Profiled under pgbench -S through the agent,
// sysmon and the in-process fsync took 6.3% and 4.0% of the agent's CPU; with the fsync in
// a helper they take 1.1% and 0.7% (the helper's own CPU is the kernel's fsync work).
//
// So the fsync runs in a helper process, this binary in the syncer role, which is handed a
// duplicate of the segment's descriptor over a socket and answers with the fsync's errno.
// The agent only sends a message and then waits in the network poller, which costs it no
// thread. If the helper cannot be started or dies, fsyncs run in-process again: slower,
// never skipped.
const (
	// SyncerRole is the helper's argv[0], what ps shows for it.
	SyncerRole     = "sluice-audit-syncer"
	syncerEnv      = "SLUICE_AUDIT_SYNCER"
	syncerEnvValue = "1"
	syncerFD       = 3 // the helper's end of the socket
)

func init() {
	if selfexec.Role(syncerEnv, syncerEnvValue) {
		os.Exit(runSyncer())
	}
}

// runSyncer serves fsync requests on fd 3 until the agent closes its end.
//
// Every system call here is raw: the helper has nothing else to run, and a Go system call
// that blocks (the recvmsg waits up to a SyncWindow, the fsync a fraction of it) gets its
// processor taken by sysmon, which then keeps polling every 20 us, with thread switches
// to match. With raw calls the goroutine simply holds its processor, sysmon backs off to
// 10 ms, and async preemption is off (selfexec.RawCallerCommand), so nothing signals the
// blocked thread.
// Measured with SyncAlways on this project's 2-core machines, the helper's CPU per fsync
// fell from 93-110 us to 63-77 us; what remains is the kernel's fsync.
func runSyncer() int {
	var reply [4]byte
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	for {
		msg := unix.Msghdr{Iov: &iov, Control: &oob[0]}
		msg.SetIovlen(1)
		msg.SetControllen(len(oob))
		n, _, e := unix.RawSyscall(unix.SYS_RECVMSG, syncerFD, uintptr(unsafe.Pointer(&msg)), unix.MSG_CMSG_CLOEXEC)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			fmt.Fprintln(os.Stderr, "audit syncer: recvmsg:", e)
			return 2
		}
		if n == 0 {
			return 0 // end of stream: the agent closed the log
		}
		fd, errno := receivedFD(oob[:msg.Controllen])
		if errno == 0 {
			_, _, errno = unix.RawSyscall(unix.SYS_FSYNC, uintptr(fd), 0, 0)
			unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
		}
		binary.BigEndian.PutUint32(reply[:], uint32(errno))
		if _, _, e := unix.RawSyscall(unix.SYS_WRITE, syncerFD, uintptr(unsafe.Pointer(&reply[0])), uintptr(len(reply))); e != 0 {
			return 2
		}
	}
}

// receivedFD returns the one descriptor a request carries.
func receivedFD(oob []byte) (int, unix.Errno) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return -1, unix.EBADMSG
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return -1, unix.EBADMSG
	}
	return fds[0], 0
}

// syncer is the agent's handle on its helper. Log.syncMu serialises its use.
type syncer struct {
	cmd  *exec.Cmd
	conn *net.UnixConn
}

func startSyncer() (*syncer, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "audit-syncer"), os.NewFile(uintptr(fds[1]), "audit-syncer")
	defer theirs.Close()
	defer ours.Close() // net.FileConn holds a duplicate
	fc, err := net.FileConn(ours)
	if err != nil {
		return nil, err
	}
	conn := fc.(*net.UnixConn)
	cmd := selfexec.RawCallerCommand(SyncerRole, syncerEnv+"="+syncerEnvValue)
	cmd.ExtraFiles = []*os.File{theirs}
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, err
	}
	return &syncer{cmd: cmd, conn: conn}, nil
}

// errSyncerDown marks a failure of the helper itself, not of the fsync.
var errSyncerDown = errors.New("audit syncer unavailable")

// fsync has the helper fsync fd (the caller still closes it).
func (s *syncer) fsync(fd int) error {
	if _, _, err := s.conn.WriteMsgUnix([]byte{1}, unix.UnixRights(fd), nil); err != nil {
		return fmt.Errorf("%w: %v", errSyncerDown, err)
	}
	var reply [4]byte
	if n, err := s.conn.Read(reply[:]); err != nil || n != len(reply) {
		return fmt.Errorf("%w: reply of %d bytes: %v", errSyncerDown, n, err)
	}
	if errno := unix.Errno(binary.BigEndian.Uint32(reply[:])); errno != 0 {
		return errno
	}
	return nil
}

// stop closes the socket, which ends the helper, and reaps it.
func (s *syncer) stop() {
	s.conn.Close()
	_ = s.cmd.Wait()
}
