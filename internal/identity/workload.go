package identity

import (
	"fmt"
	"regexp"
	"strings"
)

// Runtime names the container runtime that created a workload's cgroup. Policy and audit show
// it so an operator can tell a Docker container from a Kubernetes pod's container at a glance.
type Runtime string

// The runtimes attribution recognises. RuntimeUnknown is a container whose cgroup is a bare
// container id (the cgroupfs driver of containerd or CRI-O under Kubernetes), which does not say
// which runtime made it.
const (
	RuntimeUnknown    Runtime = ""
	RuntimeDocker     Runtime = "docker"
	RuntimeContainerd Runtime = "containerd"
	RuntimeCRIO       Runtime = "cri-o"
	RuntimePodman     Runtime = "podman"
)

// QoS is the Kubernetes quality-of-service class of a pod, read from the kubelet's cgroup layout
// (kubepods/besteffort, kubepods-burstable.slice, or the pod directly under kubepods).
type QoS string

// The QoS classes of Kubernetes.
const (
	QoSGuaranteed QoS = "guaranteed"
	QoSBurstable  QoS = "burstable"
	QoSBestEffort QoS = "besteffort"
)

// Workload is what a cgroup path says about who runs in it. It is parsed from the path only:
// the kernel reports the path of the cgroup that opened a connection, and every component of a
// path above the workload's own container was created by the host (the container runtime, the
// kubelet, systemd), so the process cannot choose it.
type Workload struct {
	// ContainerID is the 64-hex-digit id of the container, "" outside containers.
	ContainerID string
	// Runtime is the container runtime that created the container's cgroup.
	Runtime Runtime
	// PodUID is the Kubernetes pod UID in its canonical dashed form, "" outside pods.
	PodUID string
	// QoS is the pod's QoS class, "" outside pods.
	QoS QoS
	// KubeletPrefix is the cgroup path above the kubelet's kubepods hierarchy: "/" for a kubelet
	// running on the host, "/docker/<id>" for one running inside a kind node container. Token
	// sources trust a pod UID only under the prefixes they are configured for, because anything
	// that may create cgroups (a container with a delegated cgroup, a systemd service with
	// Delegate=yes) can build a kubepods-shaped subtree under its own cgroup.
	KubeletPrefix string
}

var (
	// containerScope matches a container's cgroup: a bare id (cgroupfs drivers) or a systemd
	// scope named after the runtime ("docker-<id>.scope", "cri-containerd-<id>.scope", ...).
	// The scopes of CRI-O's and Podman's container monitor ("crio-conmon-<id>.scope") do not
	// match on purpose: conmon runs next to the container, not in it.
	containerScope = regexp.MustCompile(`^(?:(docker|cri-containerd|crio|libpod|nerdctl)-)?([0-9a-f]{64})(?:\.scope)?$`)
	// podUID matches the UID in a kubelet pod cgroup name: a UUID (dashes become underscores
	// under the systemd driver, which reserves "-" for nesting) or, for static pods, the 32-digit
	// hash the kubelet uses as their UID.
	podUID = regexp.MustCompile(`^[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}$|^[0-9a-f]{32}$`)
	// bareID matches the id part of the colon form "slice:prefix:id".
	bareID = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// runtimePrefixes maps the scope-name prefixes (and colon-form middles) of container runtimes to
// the runtime.
var runtimePrefixes = map[string]Runtime{
	"docker":         RuntimeDocker,
	"cri-containerd": RuntimeContainerd,
	"nerdctl":        RuntimeContainerd,
	"crio":           RuntimeCRIO,
	"libpod":         RuntimePodman,
}

// Attribute parses a cgroup path (as /proc/PID/cgroup shows it, relative to the hierarchy root)
// into the workload it belongs to. It understands the cgroupfs and systemd drivers of Docker,
// containerd, CRI-O and Podman, the kubelet's kubepods layout for both drivers, runc's
// "slice:prefix:id" colon form, and nested layouts such as kind, where a kubelet runs inside a
// container ("/docker/<node>/kubepods/...").
//
// The outermost ids win and any different id below them is an error, never a silent choice:
// the levels below a container may be created by the container itself (with a delegated cgroup
// or cgroupns), so a second, different container id or pod UID deeper in the path is what an
// impersonation attempt looks like. A path with nothing recognisable is a zero Workload, not an
// error: a plain systemd service or a CI job's cgroup is not a container.
func Attribute(path string) (Workload, error) {
	p := &pathParser{}
	for seg := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
		if err := p.segment(seg); err != nil {
			return Workload{}, fmt.Errorf("cgroup %s: %w", path, err)
		}
	}
	if p.inKubepods && p.w.PodUID == "" && p.w.ContainerID == "" {
		// A kubepods level without a pod in it: no kubelet layer after all (a container's own
		// cgroup named "kubepods", or the kubelet's QoS slices themselves).
		return p.outer, nil
	}
	return p.w, nil
}

// pathParser walks the segments of one cgroup path, outermost first.
type pathParser struct {
	// prefix is the path walked so far, used as the kubelet prefix when kubepods starts.
	prefix strings.Builder
	// inKubepods is set once a kubepods segment was seen in the current layer.
	inKubepods bool
	// lastSeg is the previous segment, so that "/docker/<id>" names its runtime.
	lastSeg string
	w       Workload
	// outer is the workload found above the kubepods level, restored if no pod follows.
	outer Workload
}

func (p *pathParser) segment(seg string) error {
	defer func() {
		p.lastSeg = seg
		if !p.inKubepods {
			p.prefix.WriteString("/" + seg)
		}
	}()
	// runc's systemd-style cgroupsPath "slice:prefix:id" appears verbatim as a directory name
	// when the runtime uses the cgroupfs driver with a kubelet configured for systemd.
	if parts := strings.Split(seg, ":"); len(parts) == 3 {
		if err := p.sliceOrDir(parts[0]); err != nil {
			return err
		}
		rt, ok := runtimePrefixes[parts[1]]
		if !ok || !bareID.MatchString(parts[2]) {
			return nil // not a container, just an odd name
		}
		return p.container(parts[2], rt)
	}
	if m := containerScope.FindStringSubmatch(seg); m != nil {
		rt := runtimePrefixes[m[1]]
		if m[1] == "" {
			rt = runtimePrefixes[p.lastSeg] // "/docker/<id>"; "" for kubepods' bare ids
		}
		return p.container(m[2], rt)
	}
	return p.sliceOrDir(seg)
}

// sliceOrDir handles a segment that is not a container: a kubepods level in the cgroupfs form
// ("kubepods", "burstable", "pod<uid>") or a systemd slice whose dash-separated name spells its
// ancestry ("kubepods-burstable-pod<uid>.slice", "kubelet-kubepods.slice" in kind).
func (p *pathParser) sliceOrDir(seg string) error {
	name, isSlice := strings.CutSuffix(seg, ".slice")
	fields := []string{name}
	if isSlice {
		fields = strings.Split(name, "-")
	}
	for _, f := range fields {
		switch {
		case f == "kubepods":
			if err := p.enterKubepods(); err != nil {
				return err
			}
		case !p.inKubepods:
		case f == string(QoSBurstable) || f == string(QoSBestEffort):
			if p.w.PodUID == "" && p.w.QoS == QoSGuaranteed {
				p.w.QoS = QoS(f)
			}
		case strings.HasPrefix(f, "pod") && podUID.MatchString(f[3:]):
			if err := p.pod(f[3:]); err != nil {
				return err
			}
		}
	}
	return nil
}

// enterKubepods starts (or continues) the kubelet's layer. A kubepods level below a container
// that is not in a pod is a kubelet running in that container (a kind node); the container then
// belongs to the prefix, not to the workload. Below a pod's container it is refused: it would be
// a kubelet layout built inside a pod, indistinguishable from forgery.
func (p *pathParser) enterKubepods() error {
	if p.inKubepods && p.w.ContainerID == "" {
		return nil // systemd repeats "kubepods" in every slice name of the hierarchy
	}
	if p.w.PodUID != "" {
		return fmt.Errorf("a kubepods hierarchy below pod %s's container %s: refusing a nested kubelet layout inside a pod", p.w.PodUID, p.w.ContainerID)
	}
	if p.inKubepods {
		return fmt.Errorf("a second kubepods hierarchy below container %s", p.w.ContainerID)
	}
	p.inKubepods = true
	p.outer = p.w
	p.w = Workload{QoS: QoSGuaranteed, KubeletPrefix: p.kubeletPrefix()}
	return nil
}

// kubeletPrefix returns the path walked before the current segment, "/" at the root.
func (p *pathParser) kubeletPrefix() string {
	if p.prefix.Len() == 0 {
		return "/"
	}
	return p.prefix.String()
}

func (p *pathParser) pod(raw string) error {
	uid := strings.ReplaceAll(raw, "_", "-")
	switch {
	case p.w.PodUID == uid:
		return nil
	case p.w.PodUID != "":
		return fmt.Errorf("conflicting pod UIDs %s and %s", p.w.PodUID, uid)
	case p.w.ContainerID != "":
		return fmt.Errorf("pod UID %s below container %s", uid, p.w.ContainerID)
	}
	p.w.PodUID = uid
	return nil
}

func (p *pathParser) container(id string, rt Runtime) error {
	switch {
	case p.w.ContainerID == id:
		if p.w.Runtime == RuntimeUnknown {
			p.w.Runtime = rt
		}
		return nil
	case p.w.ContainerID != "":
		return fmt.Errorf("conflicting container ids %s and %s", p.w.ContainerID, id)
	}
	p.w.ContainerID = id
	p.w.Runtime = rt
	return nil
}
