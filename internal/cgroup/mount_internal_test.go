package cgroup

import (
	"strings"
	"testing"
)

func TestFindCgroup2(t *testing.T) {
	const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw
`
	const pure = `25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate
`
	const escaped = `25 30 0:22 / /mnt/my\040cgroups rw - cgroup2 none rw
`
	const subtreeFirst = `90 30 0:22 /kubepods /var/lib/x rw - cgroup2 cgroup2 rw
25 30 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
`
	const onlySubtree = `90 30 0:22 /kubepods /var/lib/x rw - cgroup2 cgroup2 rw
`
	for name, tc := range map[string]struct{ table, want string }{
		"hybrid":         {hybrid, "/sys/fs/cgroup/unified"},
		"pure v2":        {pure, "/sys/fs/cgroup"},
		"escaped space":  {escaped, "/mnt/my cgroups"},
		"root preferred": {subtreeFirst, "/sys/fs/cgroup"},
		"only subtree":   {onlySubtree, "/var/lib/x"},
	} {
		got, err := findCgroup2(strings.NewReader(tc.table))
		if err != nil || got != tc.want {
			t.Errorf("%s: findCgroup2 = %q, %v; want %q", name, got, err, tc.want)
		}
	}
	_, err := findCgroup2(strings.NewReader("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"))
	if err == nil || !strings.Contains(err.Error(), "cgroup v2 is required") {
		t.Errorf("v1-only table: err = %v, want one saying cgroup v2 is required", err)
	}
}
