package identity

import (
	"strings"
	"testing"
)

const (
	cid     = "09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6"
	cid2    = "5f1e0c43b0a2e7cc8f6a1b9d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f"
	node    = "93529524695bb00d91c1f6dba692ea8d3550c3b94fb2463af7bc9ec82f992d26"
	uid     = "a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80"
	uidU    = "a2830d0d_b0f0_4ff0_81b5_0ee4e299cf80"
	uid2    = "2c48913c-b29f-438d-9b0e-d11a3e4a61a4"
	hashUID = "3f7b8e2a9c6d4e1f8a0b2c3d4e5f6a7b"
)

// TestAttribute runs the real-world path shapes of the cgroupfs and systemd drivers of every
// runtime, and the shapes an impersonation attempt produces, through Attribute.
func TestAttribute(t *testing.T) {
	pod := func(id string, rt Runtime, q QoS, prefix string) Workload {
		return Workload{ContainerID: id, Runtime: rt, PodUID: uid, QoS: q, KubeletPrefix: prefix}
	}
	tests := []struct {
		name, path string
		want       Workload
		err        string // substring of the error; "" = success
	}{
		{name: "root", path: "/"},
		{name: "systemd service", path: "/system.slice/sshd.service"},
		{name: "CI job cgroup", path: "/ci/job-42/step-1"},
		{name: "user session", path: "/user.slice/user-1000.slice/session-3.scope"},
		{name: "docker cgroupfs", path: "/docker/" + cid, want: Workload{ContainerID: cid, Runtime: RuntimeDocker}},
		{name: "docker systemd", path: "/system.slice/docker-" + cid + ".scope", want: Workload{ContainerID: cid, Runtime: RuntimeDocker}},
		{name: "nerdctl systemd", path: "/system.slice/nerdctl-" + cid + ".scope", want: Workload{ContainerID: cid, Runtime: RuntimeContainerd}},
		{name: "podman rootful", path: "/machine.slice/libpod-" + cid + ".scope/container", want: Workload{ContainerID: cid, Runtime: RuntimePodman}},
		{name: "podman rootless in a pod", path: "/user.slice/user-1000.slice/user@1000.service/user.slice/machine-libpod_pod_" + node + ".slice/libpod-" + cid + ".scope", want: Workload{ContainerID: cid, Runtime: RuntimePodman}},
		{name: "podman conmon excluded", path: "/machine.slice/libpod-conmon-" + cid + ".scope"},
		{name: "not an id (63 digits)", path: "/docker/" + cid[1:]},
		{name: "kubepods cgroupfs besteffort", path: "/kubepods/besteffort/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSBestEffort, "/")},
		{name: "kubepods cgroupfs burstable", path: "/kubepods/burstable/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSBurstable, "/")},
		{name: "kubepods cgroupfs guaranteed", path: "/kubepods/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSGuaranteed, "/")},
		{name: "kubepods pod level", path: "/kubepods/burstable/pod" + uid, want: pod("", RuntimeUnknown, QoSBurstable, "/")},
		{name: "kubepods systemd containerd", path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", want: pod(cid, RuntimeContainerd, QoSBurstable, "/")},
		{name: "kubepods systemd guaranteed", path: "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope", want: pod(cid, RuntimeContainerd, QoSGuaranteed, "/")},
		{name: "kubepods systemd dockershim", path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/docker-" + cid + ".scope", want: pod(cid, RuntimeDocker, QoSBestEffort, "/")},
		{name: "CRI-O systemd", path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + cid + ".scope", want: pod(cid, RuntimeCRIO, QoSBestEffort, "/")},
		{name: "CRI-O systemd v2 container leaf", path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + cid + ".scope/container", want: pod(cid, RuntimeCRIO, QoSBestEffort, "/")},
		{name: "CRI-O conmon excluded", path: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-conmon-" + cid + ".scope", want: pod("", RuntimeUnknown, QoSBestEffort, "/")},
		{name: "containerd colon form", path: "/system.slice/containerd.service/kubepods-burstable-pod" + uidU + ".slice:cri-containerd:" + cid, want: pod(cid, RuntimeContainerd, QoSBurstable, "/system.slice/containerd.service")},
		{name: "CRI-O colon form", path: "/kubepods-besteffort-pod" + uidU + ".slice:crio:" + cid, want: pod(cid, RuntimeCRIO, QoSBestEffort, "/")},
		{name: "colon form, not an id", path: "/a.slice:docker:xyz"},
		{name: "static pod (hash uid)", path: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + hashUID + ".slice/cri-containerd-" + cid + ".scope",
			want: Workload{ContainerID: cid, Runtime: RuntimeContainerd, PodUID: hashUID, QoS: QoSBurstable, KubeletPrefix: "/"}},
		{name: "custom kubelet cgroup root", path: "/k8s/kubepods/besteffort/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSBestEffort, "/k8s")},
		{name: "kind cgroupfs", path: "/docker/" + node + "/kubepods/besteffort/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSBestEffort, "/docker/"+node)},
		{name: "kind systemd (cgroup v2)", path: "/system.slice/docker-" + node + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + cid + ".scope",
			want: pod(cid, RuntimeContainerd, QoSBestEffort, "/system.slice/docker-"+node+".scope/kubelet.slice")},
		{name: "kubelet QoS slice, no pod", path: "/kubepods.slice/kubepods-burstable.slice"},
		{name: "container's own cgroup named kubepods", path: "/docker/" + cid + "/kubepods/besteffort", want: Workload{ContainerID: cid, Runtime: RuntimeDocker}},
		{name: "kind node's own services", path: "/docker/" + node + "/system.slice/containerd.service", want: Workload{ContainerID: node, Runtime: RuntimeDocker}},
		// A cgroup with delegation can grow a kubepods-shaped subtree; the prefix says where.
		{name: "kubepods forged below a CI job", path: "/ci/job-42/kubepods/besteffort/pod" + uid + "/" + cid, want: pod(cid, RuntimeUnknown, QoSBestEffort, "/ci/job-42")},
		{name: "same id twice", path: "/docker/" + cid + "/docker-" + cid + ".scope", want: Workload{ContainerID: cid, Runtime: RuntimeDocker}},

		{name: "conflicting container ids", path: "/docker/" + cid + "/docker/" + cid2, err: "conflicting container ids"},
		{name: "container id below a pod's container", path: "/kubepods/pod" + uid + "/" + cid + "/" + cid2, err: "conflicting container ids"},
		{name: "conflicting pod uids", path: "/kubepods/burstable/pod" + uid + "/pod" + uid2 + "/" + cid, err: "conflicting pod UIDs"},
		{name: "pod forged inside a pod's container", path: "/kubepods/besteffort/pod" + uid + "/" + cid + "/kubepods/besteffort/pod" + uid2 + "/" + cid2, err: "nested kubelet"},
		{name: "pod uid below a container", path: "/kubepods/besteffort/" + cid + "/pod" + uid, err: "below container"},
		{name: "kubelet inside a kind pod", path: "/docker/" + node + "/kubepods/pod" + uid + "/" + cid + "/kubepods/pod" + uid2 + "/" + cid2, err: "nested kubelet"},
		{name: "two containers above kubepods", path: "/docker/" + node + "/docker/" + cid + "/kubepods/pod" + uid + "/" + cid2, err: "conflicting container ids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Attribute(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Attribute(%s) = %+v, %v; want error containing %q", tt.path, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Attribute(%s)\n got %+v, %v\nwant %+v", tt.path, got, err, tt.want)
			}
		})
	}
}

// TestAttributeProcCgroup feeds whole /proc/PID/cgroup files: cgroup v2, hybrid v1/v2, and
// the kind-on-v1 layout where the v2 line shows only the node container.
func TestAttributeProcCgroup(t *testing.T) {
	crio := "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/crio-" + cid + ".scope"
	kind := "/docker/" + node + "/kubepods/besteffort/pod" + uid + "/" + cid
	podWant := func(rt Runtime, prefix string) Workload {
		return Workload{ContainerID: cid, Runtime: rt, PodUID: uid, QoS: QoSBestEffort, KubeletPrefix: prefix}
	}
	tests := []struct {
		name, content string
		want          Workload
		err           string
	}{
		{name: "v2", content: "0::" + crio + "\n", want: podWant(RuntimeCRIO, "/")},
		{name: "v2 colon form", content: "0::/system.slice/containerd.service/kubepods-besteffort-pod" + uidU + ".slice:cri-containerd:" + cid,
			want: podWant(RuntimeContainerd, "/system.slice/containerd.service")},
		{name: "v2 host process", content: "0::/system.slice/sshd.service\n"},
		{name: "v1 CRI-O, hybrid", content: "12:hugetlb:" + crio + "\n11:net_cls,net_prio:" + crio + "\n3:rdma:/\n1:name=systemd:" + crio + "\n0::/system.slice/crio.service\n",
			want: podWant(RuntimeCRIO, "/")},
		{name: "kind on v1", content: "13:name=systemd:" + kind + "\n5:memory:" + kind + "\n0::/docker/" + node + "/system.slice/containerd.service\n",
			want: podWant(RuntimeUnknown, "/docker/"+node)},
		{name: "v1 lines disagree", content: "5:memory:/docker/" + cid + "\n4:cpu:/docker/" + cid2 + "\n", err: "disagree"},
		{name: "pod lines disagree", content: "5:memory:" + kind + "\n4:cpu:/kubepods/besteffort/pod" + uid2 + "/" + cid + "\n", err: "disagree"},
		{name: "pod vs unrelated container", content: "5:memory:" + kind + "\n0::/docker/" + cid2 + "\n", err: "disagree"},
		{name: "conflict inside a line", content: "0::/docker/" + cid + "/docker/" + cid2 + "\n", err: "conflicting container ids"},
		{name: "not a cgroup line", content: "garbage\n", err: "want hierarchy-id:controllers:path"},
		{name: "hierarchy not a number", content: "x:cpu:/a\n", err: "not a number"},
		{name: "v2 line with controllers", content: "0:cpu:/a\n", err: "no controllers"},
		{name: "relative path", content: "0::docker/" + cid + "\n", err: "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AttributeProcCgroup(tt.content)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("AttributeProcCgroup = %+v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("AttributeProcCgroup\n got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}
