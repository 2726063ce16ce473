package redirect

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listen opens a proxy listener carrying mark as SO_MARK. The programs only redirect to a
// listener with the agent's mark, which takes CAP_NET_ADMIN to set: a workload that binds
// the proxy port first gets nothing, and connects fail closed instead.
func Listen(ctx context.Context, network, address string, mark uint32) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(ctx, network, address)
}
