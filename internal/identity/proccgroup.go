package identity

import (
	"fmt"
	"strconv"
	"strings"
)

// AttributeProcCgroup attributes a process from the content of its /proc/PID/cgroup file, for
// callers that know a pid rather than a cgroup id. Each line is "hierarchy-id:controllers:path":
// "0::/path" for cgroup v2, "4:memory:/path" or "1:name=systemd:/path" for a v1 hierarchy. Only
// the cgroup paths are used; /proc/PID/mountinfo is never read, because a process can change
// its own mount namespace and so what mountinfo shows.
//
// Every line is attributed, and the answers must agree. Lines that name a pod outrank lines
// that do not: on a hybrid host running kind, the v1 controllers show the pod while the v2 line
// shows only the kind node ("/docker/<node>/system.slice/containerd.service"), and that node
// container is compatible with the pod's answer. Anything else that disagrees is an error.
func AttributeProcCgroup(content string) (Workload, error) {
	var best Workload
	var answers []Workload
	for line := range strings.Lines(content) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		path, err := procCgroupPath(line)
		if err != nil {
			return Workload{}, err
		}
		w, err := Attribute(path)
		if err != nil {
			return Workload{}, err
		}
		if w == (Workload{}) {
			continue
		}
		answers = append(answers, w)
		if best.PodUID == "" && (w.PodUID != "" || best.ContainerID == "") {
			best = w
		}
	}
	for _, w := range answers {
		if w != best && !isNodeOf(w, best) {
			return Workload{}, fmt.Errorf("/proc/PID/cgroup lines disagree about the workload: %+v and %+v", best, w)
		}
	}
	return best, nil
}

// isNodeOf reports whether node, an answer without a pod, is the container that pod's kubelet
// runs in (a kind node), which is what its kubelet prefix attributes to.
func isNodeOf(node, pod Workload) bool {
	if node.PodUID != "" || pod.PodUID == "" {
		return false
	}
	outer, err := Attribute(pod.KubeletPrefix)
	return err == nil && outer.ContainerID == node.ContainerID && outer.Runtime == node.Runtime
}

// procCgroupPath returns the path of one /proc/PID/cgroup line. The path is everything after
// the second colon, since the colon form of container cgroups puts colons in the path itself.
func procCgroupPath(line string) (string, error) {
	parts := strings.SplitN(line, ":", 3)
	if len(parts) != 3 {
		return "", fmt.Errorf("/proc/PID/cgroup line %q: want hierarchy-id:controllers:path", line)
	}
	if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
		return "", fmt.Errorf("/proc/PID/cgroup line %q: hierarchy id is not a number", line)
	}
	if parts[0] == "0" && parts[1] != "" {
		return "", fmt.Errorf("/proc/PID/cgroup line %q: the cgroup v2 line (hierarchy 0) has no controllers", line)
	}
	if !strings.HasPrefix(parts[2], "/") {
		return "", fmt.Errorf("/proc/PID/cgroup line %q: the path must be absolute", line)
	}
	return parts[2], nil
}
