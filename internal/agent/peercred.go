package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// peer is who is on the other end of a control-socket connection, as the kernel says.
type peer struct {
	UID, GID uint32
	PID      int32
}

type peerKey struct{}

// peerContext records the connection's SO_PEERCRED in the request context; the kernel
// fills it at connect time, so a client cannot claim another identity.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || serr != nil {
		return ctx
	}
	return context.WithValue(ctx, peerKey{}, peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid})
}

func peerFrom(ctx context.Context) (peer, bool) {
	p, ok := ctx.Value(peerKey{}).(peer)
	return p, ok
}

// String names the peer for audit and logs: "uid 0 (root) pid 123".
func (p peer) String() string {
	name := strconv.Itoa(int(p.UID))
	if u, err := user.LookupId(name); err == nil {
		name += " (" + u.Username + ")"
	}
	return fmt.Sprintf("uid %s pid %d", name, p.PID)
}

// resolveGroup turns a group name or number into a gid; "" means none.
func resolveGroup(g string) (uint32, bool, error) {
	if g == "" {
		return 0, false, nil
	}
	if n, err := strconv.ParseUint(g, 10, 32); err == nil {
		return uint32(n), true, nil
	}
	grp, err := user.LookupGroup(g)
	if err != nil {
		return 0, false, fmt.Errorf("control group %q: %w", g, err)
	}
	n, err := strconv.ParseUint(grp.Gid, 10, 32)
	return uint32(n), true, err
}

// inGroup reports whether the peer's primary or supplementary groups include gid. The
// supplementary groups come from /proc, read while the peer is still connected.
func (p peer) inGroup(gid uint32) bool {
	if p.GID == gid {
		return true
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		for _, g := range strings.Fields(rest) {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) == gid {
				return true
			}
		}
	}
	return false
}

// peerCgroup is the cgroup v2 path of the peer process.
func (p peer) cgroupPath() (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.PID))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			return rest, nil
		}
	}
	return "", errors.New("no cgroup v2 entry")
}
