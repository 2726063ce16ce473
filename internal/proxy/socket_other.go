//go:build !linux || race

package proxy

import (
	"io"
	"net"
)

// socketIO returns conn. The raw system calls of socket_linux.go are Linux's, and they are
// left out of race-detector builds: there, syscall.Write and syscall.Read announce every
// write followed by a read as synchronization (their ioSync), which is how the detector
// knows that what one goroutine did before a message went out happened before what
// another does with the answer; raw calls would not announce it.
func socketIO(conn net.Conn) io.ReadWriter { return conn }
