package demo

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// The demo container's link to the host: a link-local /30, so the demo never routes a
// network it could share with the machine's real ones.
const (
	containerHost = "169.254.253.1"
	containerAddr = "169.254.253.2"
)

// container is a cgroup with its own network namespace and a veth to the host: what a
// container runtime gives a CI job.
type container struct {
	netns string
	veth  string
}

func newContainer(undo *cleanups) (*container, error) {
	var b [3]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	c := &container{netns: "sluice-demo-" + id, veth: "sdv" + id}
	if err := ip("netns", "add", c.netns); err != nil {
		return nil, err
	}
	undo.add(func() error { return ip("netns", "del", c.netns) }) // takes the veth pair with it
	steps := [][]string{
		{"link", "add", c.veth, "type", "veth", "peer", "name", "eth0", "netns", c.netns},
		{"addr", "add", containerHost + "/30", "dev", c.veth},
		{"link", "set", c.veth, "up"},
		{"-n", c.netns, "link", "set", "lo", "up"},
		{"-n", c.netns, "addr", "add", containerAddr + "/30", "dev", "eth0"},
		{"-n", c.netns, "link", "set", "eth0", "up"},
		{"-n", c.netns, "route", "add", "default", "via", containerHost},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// psql runs an unmodified psql inside the container's network namespace and cgroup.
func (c *container) psql(cg, dbAddr, sql string) (string, error) {
	host, port, _ := net.SplitHostPort(dbAddr)
	cmd := exec.Command("ip", "netns", "exec", c.netns, "psql", "-X", "-w", "-At", "-h", host, "-p", port, "-U", "ci", "-d", "app", "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5", "PGSSLMODE=prefer")
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cgroup.StartIn(cg, cmd); err != nil {
		return "", err
	}
	err := cmd.Wait()
	return strings.TrimSpace(b.String()), err
}
