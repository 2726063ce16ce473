package redirect

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the client process that tests start inside a cgroup: the
// programs act on the connecting task's cgroup, so connects must come from a real process
// born there, not from the test process.
const clientEnv = "SLUICE_REDIRECT_TEST_CLIENT"

// clientMain runs `connect ADDRPORT COUNT [OPTION...]`: COUNT connects, one output line
// each: "pid=P peer=ADDRPORT got=LINE" or "err=ERRNO". Options:
//   - tfo connects with TCP Fast Open's sendto; uring through io_uring, uring-async run by
//     an io_uring worker, uring-sqpoll submitted by the ring's polling thread, rather than
//     by the calling task; mptcp connects a Multipath TCP socket, whose connections the
//     kernel makes with TCP subflow sockets of its own;
//   - sport=N binds every connect to source port N (reset on close, so the port is free
//     again at once);
//   - as=UID drops root for user UID first, as a workload would run;
//   - move=CGROUP then tries to move the process into cgroup directory CGROUP, as a
//     workload escaping enforcement would, and prints "move=ok" or "move=ERRNO" first.
func clientMain(args []string) int {
	if len(args) < 3 || args[0] != "connect" {
		fmt.Fprintln(os.Stderr, "usage: connect ADDRPORT COUNT [tfo|uring|uring-async|uring-sqpoll|mptcp|sport=N|as=UID|move=CGROUP]...")
		return 2
	}
	dst, err := netip.ParseAddrPort(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	n, err := strconv.Atoi(args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	var how string
	var sport int
	for _, opt := range args[3:] {
		key, value, _ := strings.Cut(opt, "=")
		switch key {
		case "sport":
			sport = atoi(value)
		case "as":
			if err := dropRoot(atoi(value)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		case "move":
			err := os.WriteFile(value+"/cgroup.procs", []byte("0"), 0)
			fmt.Fprintln(w, "move="+moveResult(err))
		default:
			how = opt
		}
	}
	for range n {
		fmt.Fprintln(w, connectOnce(dst, how, sport))
	}
	return 0
}

// dropRoot makes every thread of the process run as uid (and the group of that number),
// with no supplementary groups.
func dropRoot(uid int) error {
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setgid(uid); err != nil {
		return err
	}
	return syscall.Setuid(uid)
}

func moveResult(err error) string {
	if err == nil {
		return "ok"
	}
	return errName(err)
}

// connectOnce uses raw syscalls so the address family is exactly what the test asks for: a
// v4-mapped destination goes through an AF_INET6 socket, which only connect6 sees.
func connectOnce(dst netip.AddrPort, how string, sport int) string {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()}
	if dst.Addr().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	}
	protocol := 0
	if how == "mptcp" {
		protocol = unix.IPPROTO_MPTCP
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		return "err=socket-" + errName(err)
	}
	defer unix.Close(fd)
	if sport != 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		var local unix.Sockaddr = &unix.SockaddrInet4{Port: sport}
		if family == unix.AF_INET6 {
			local = &unix.SockaddrInet6{Port: sport}
		}
		if err := unix.Bind(fd, local); err != nil {
			return "err=bind-" + errName(err)
		}
	}
	switch how {
	case "tfo":
		err = unix.Sendto(fd, []byte("x"), unix.MSG_FASTOPEN, sa)
	case "uring":
		err = uringConnect(fd, dst, uringInline)
	case "uring-async":
		err = uringConnect(fd, dst, uringWorker)
	case "uring-sqpoll":
		err = uringConnect(fd, dst, uringSQPoll)
	default:
		err = unix.Connect(fd, sa)
	}
	if err != nil {
		return "err=" + errName(err)
	}
	// Read first: a fast-open sendto returns while the handshake may still be in flight.
	buf := make([]byte, 512)
	k, err := unix.Read(fd, buf)
	if err != nil {
		return "err=" + errName(err)
	}
	peer, err := unix.Getpeername(fd)
	if err != nil {
		return "err=" + errName(err)
	}
	return fmt.Sprintf("pid=%d peer=%s got=%s", os.Getpid(), sockaddrString(peer), strings.TrimSpace(string(buf[:k])))
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return fmt.Sprintf("%T", sa)
}

func errName(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
