package redirect

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// prepare checks the pin directory is on a bpffs (creating it if needed) and lifts the
// memlock limit that kernels before 5.11 charge BPF memory to.
func prepare(pinDir string) error {
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		return fmt.Errorf("redirect: create pin directory: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(pinDir, &fs); err != nil {
		return fmt.Errorf("redirect: pin directory: %w", err)
	}
	if fs.Type != unix.BPF_FS_MAGIC {
		return fmt.Errorf("redirect: pin directory %s is not on a bpffs (mount one: mount -t bpf bpf /sys/fs/bpf)", pinDir)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return fmt.Errorf("redirect: raise RLIMIT_MEMLOCK: %w", err)
	}
	return nil
}

// requirement is one kernel feature the programs need, probed when loading fails so the
// error names what is missing instead of quoting a verifier log.
type requirement struct {
	what  string
	probe func() error
}

var requirements = []requirement{
	{"cgroup sock_addr programs (Linux 4.17)", func() error { return features.HaveProgramType(ebpf.CGroupSockAddr) }},
	{"sockops programs (Linux 4.13)", func() error { return features.HaveProgramType(ebpf.SockOps) }},
	{"bpf_get_current_ancestor_cgroup_id in cgroup/connect (Linux 5.7)", func() error {
		return features.HaveProgramHelper(ebpf.CGroupSockAddr, asm.FnGetCurrentAncestorCgroupId)
	}},
	{"bpf_get_netns_cookie in cgroup/connect (Linux 5.7)", func() error {
		return features.HaveProgramHelper(ebpf.CGroupSockAddr, asm.FnGetNetnsCookie)
	}},
	{"bpf_sk_lookup_tcp in cgroup/connect (Linux 4.20)", func() error {
		return features.HaveProgramHelper(ebpf.CGroupSockAddr, asm.FnSkLookupTcp)
	}},
	{"bpf_get_socket_cookie in sockops (Linux 5.0)", func() error {
		return features.HaveProgramHelper(ebpf.SockOps, asm.FnGetSocketCookie)
	}},
	{"bpf_get_socket_cookie in cgroup/sock_release (Linux 5.9)", func() error {
		return features.HaveProgramHelper(ebpf.CGroupSock, asm.FnGetSocketCookie)
	}},
	{"cgroup/getpeername4 hook (Linux 5.8)", func() error {
		return probeAttachType(ebpf.CGroupSockAddr, ebpf.AttachCgroupInet4GetPeername)
	}},
	{"cgroup/sock_release hook (Linux 5.9)", func() error {
		return probeAttachType(ebpf.CGroupSock, ebpf.AttachCgroupInetSockRelease)
	}},
}

// explainLoad turns a load failure into a message naming the missing capability or kernel
// feature; the original error stays wrapped for the verifier log.
func explainLoad(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("redirect: loading eBPF programs was refused: run as root or with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN: %w", err)
	}
	if missing := missingFeatures(); len(missing) > 0 {
		return fmt.Errorf("redirect: this kernel lacks %v (sluice needs Linux >= 5.10): %w", missing, err)
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("redirect: the kernel's verifier rejected the programs: %+v", ve)
	}
	return fmt.Errorf("redirect: load programs: %w", err)
}

func explainAttach(hook string, err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("attaching was refused: run as root or with CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN: %w", err)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("this kernel cannot attach %s with a cgroup bpf_link (Linux 5.7 or newer needed): %w", hook, err)
	}
	return err
}

func missingFeatures() []string {
	var missing []string
	for _, r := range requirements {
		if err := r.probe(); err != nil {
			missing = append(missing, r.what)
		}
	}
	return missing
}

// probeAttachType loads the smallest program with the given expected attach type; a kernel
// that does not know the attach type rejects it.
func probeAttachType(pt ebpf.ProgramType, at ebpf.AttachType) error {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       pt,
		AttachType: at,
		License:    "Dual BSD/GPL",
		Instructions: asm.Instructions{
			asm.LoadImm(asm.R0, 1, asm.DWord),
			asm.Return(),
		},
	})
	if err != nil {
		return err
	}
	return p.Close()
}
