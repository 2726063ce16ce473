package redirect

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring's ABI (include/uapi/linux/io_uring.h), as much of it as one connect needs. No Go
// module of io_uring is served here, and the test needs only this: submit IORING_OP_CONNECT
// and wait for its completion, with the connect run by the calling task, by an io_uring
// worker (IOSQE_ASYNC), or submitted by the ring's kernel polling thread (IORING_SETUP_SQPOLL).
const (
	uringOpConnect   = 16
	uringSQEAsync    = 1 << 4
	uringSetupSQPoll = 1 << 1
	uringEnterWait   = 1 // IORING_ENTER_GETEVENTS
	uringEnterWakeSQ = 2 // IORING_ENTER_SQ_WAKEUP
	uringOffSQRing   = 0
	uringOffCQRing   = 0x8000000
	uringOffSQEs     = 0x10000000
	uringSQESize     = 64
	uringCQESize     = 16
)

// uringParams is struct io_uring_params; the ring offsets are read from it by index.
type uringParams struct {
	SQEntries, CQEntries, Flags, SQThreadCPU, SQThreadIdle, Features, WQFD uint32
	Resv                                                                   [3]uint32
	SQOff                                                                  [10]uint32 // head, tail, mask, entries, flags, dropped, array, resv1, resv2 (u64)
	CQOff                                                                  [10]uint32 // head, tail, mask, entries, overflow, cqes, flags, resv1, resv2 (u64)
}

// uringWay is who runs an io_uring connect.
type uringWay int

const (
	uringInline uringWay = iota // the submitting task
	uringWorker                 // an io_uring worker thread (IOSQE_ASYNC)
	uringSQPoll                 // submitted by the ring's polling thread (IORING_SETUP_SQPOLL)
)

// uringConnect connects socket fd to dst through a one-entry io_uring and returns the
// connect's result.
func uringConnect(fd int, dst netip.AddrPort, way uringWay) error {
	var p uringParams
	if way == uringSQPoll {
		p.Flags = uringSetupSQPoll
	}
	ring, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return fmt.Errorf("io_uring_setup: %w", e)
	}
	defer unix.Close(int(ring))
	sq, err := unix.Mmap(int(ring), uringOffSQRing, int(p.SQOff[6]+p.SQEntries*4), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(sq)
	cq, err := unix.Mmap(int(ring), uringOffCQRing, int(p.CQOff[5]+p.CQEntries*uringCQESize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(cq)
	sqes, err := unix.Mmap(int(ring), uringOffSQEs, int(p.SQEntries*uringSQESize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	defer unix.Munmap(sqes)

	addr := rawSockaddr(dst)
	sqe := sqes[:uringSQESize]
	clear(sqe)
	sqe[0] = uringOpConnect
	if way == uringWorker {
		sqe[1] = uringSQEAsync
	}
	binary.NativeEndian.PutUint32(sqe[4:], uint32(fd))
	binary.NativeEndian.PutUint64(sqe[8:], uint64(len(addr)))                          // addr2: the address length
	binary.NativeEndian.PutUint64(sqe[16:], uint64(uintptr(unsafe.Pointer(&addr[0])))) // addr
	u32 := func(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }
	tail := atomic.LoadUint32(u32(sq, p.SQOff[1]))
	*u32(sq, p.SQOff[6]+(tail&*u32(sq, p.SQOff[2]))*4) = 0 // the array slot points at SQE 0
	atomic.StoreUint32(u32(sq, p.SQOff[1]), tail+1)

	// With SQPOLL the polling thread submits; the call only wakes it and waits.
	if _, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, ring, 1, 1, uringEnterWait|uringEnterWakeSQ, 0, 0); e != 0 {
		return fmt.Errorf("io_uring_enter: %w", e)
	}
	head := atomic.LoadUint32(u32(cq, p.CQOff[0]))
	if head == atomic.LoadUint32(u32(cq, p.CQOff[1])) {
		return fmt.Errorf("io_uring: no completion")
	}
	cqe := p.CQOff[5] + (head&*u32(cq, p.CQOff[2]))*uringCQESize
	res := int32(binary.NativeEndian.Uint32(cq[cqe+8:]))
	atomic.StoreUint32(u32(cq, p.CQOff[0]), head+1)
	runtime.KeepAlive(addr) // the kernel read it through the SQE's raw pointer
	if res < 0 {
		return unix.Errno(-res)
	}
	return nil
}

// rawSockaddr is dst as struct sockaddr_in or sockaddr_in6 bytes.
func rawSockaddr(dst netip.AddrPort) []byte {
	if dst.Addr().Is4() {
		b := make([]byte, unix.SizeofSockaddrInet4)
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], dst.Port())
		a := dst.Addr().As4()
		copy(b[4:], a[:])
		return b
	}
	b := make([]byte, unix.SizeofSockaddrInet6)
	binary.NativeEndian.PutUint16(b[0:], unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], dst.Port())
	a := dst.Addr().As16()
	copy(b[8:], a[:])
	return b
}
