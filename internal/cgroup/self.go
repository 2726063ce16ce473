package cgroup

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// Self returns the absolute directory path of the calling process's cgroup v2, from the "0::"
// line of /proc/self/cgroup. The agent exempts its own cgroup from redirection (otherwise its
// upstream connections would loop back into itself), and exemption by cgroup is the only kind a
// workload cannot forge.
func Self() (string, error) {
	mnt, err := Mount()
	if err != nil {
		return "", err
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rel, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return inHierarchy(mnt, rel)
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	return "", fmt.Errorf("cgroup v2 is required: /proc/self/cgroup has no \"0::\" line")
}
