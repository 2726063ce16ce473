package cgroup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// fileidKernfs is the file handle type (FILEID_KERNFS) the kernel uses for kernfs nodes, and
// so for cgroup v2 directories. Its 8-byte payload is the kernfs node id, which is also the
// cgroup id the BPF helpers report.
const fileidKernfs = 0xfe

// ID returns the cgroup v2 id of the cgroup directory abs: the value that
// bpf_get_current_cgroup_id() returns for tasks in that cgroup, and therefore the key of every
// per-cgroup eBPF map. It is read from the directory's file handle (name_to_handle_at), whose
// payload is the kernfs node id; if handles are unavailable it falls back to the inode number,
// which equals the node id on 64-bit kernels.
func ID(abs string) (uint64, error) {
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, abs, 0)
	if err == nil && h.Type() == fileidKernfs && h.Size() == 8 {
		return binary.NativeEndian.Uint64(h.Bytes()), nil
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return 0, fmt.Errorf("cgroup id: %w", &os.PathError{Op: "stat", Path: abs, Err: err})
	}
	return st.Ino, nil
}

// PathOf returns the absolute directory path of the cgroup with the given id: the inverse of
// ID. The proxy needs it because the kernel tells it only the id of the cgroup that opened a
// connection, while attribution works on paths (container id, pod uid). The cgroup is opened by
// handle relative to the cgroup2 mount and its path read back from /proc/self/fd, so no
// directory walk is needed. A cgroup that no longer exists yields an error wrapping
// os.ErrNotExist. It needs CAP_DAC_READ_SEARCH, as open_by_handle_at does.
func PathOf(id uint64) (string, error) {
	mnt, err := Mount()
	if err != nil {
		return "", err
	}
	mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("cgroup id %d: open %s: %w", id, mnt, err)
	}
	defer unix.Close(mfd)

	payload := binary.NativeEndian.AppendUint64(nil, id)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(fileidKernfs, payload), unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", fmt.Errorf("cgroup id %d: %w (%v)", id, os.ErrNotExist, err)
	}
	if err != nil {
		return "", fmt.Errorf("cgroup id %d: open_by_handle_at: %w", id, err)
	}
	defer unix.Close(fd)

	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", fmt.Errorf("cgroup id %d: %w", id, err)
	}
	// The cgroup can be removed between the open and the readlink.
	if strings.HasSuffix(p, " (deleted)") {
		return "", fmt.Errorf("cgroup id %d: %w (removed)", id, os.ErrNotExist)
	}
	return p, nil
}
