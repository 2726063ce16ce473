package cgroup_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/testenv"
)

func TestIDAndPathOf(t *testing.T) {
	testenv.RequireRoot(t)
	mnt, err := cgroup.Mount()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := cgroup.ID(mnt); err != nil || id != 1 {
		t.Errorf("ID(root) = %d, %v; want 1", id, err)
	}
	if p, err := cgroup.PathOf(1); err != nil || p != mnt {
		t.Errorf("PathOf(1) = %q, %v; want %q", p, err, mnt)
	}

	cg := testenv.Cgroup(t, "")
	id, err := cgroup.ID(cg)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(cg, &st); err != nil {
		t.Fatal(err)
	}
	if id != st.Ino {
		t.Errorf("ID(%s) = %d, inode %d: a 64-bit kernel makes them equal", cg, id, st.Ino)
	}
	if p, err := cgroup.PathOf(id); err != nil || p != cg {
		t.Errorf("PathOf(ID(%s)) = %q, %v", cg, p, err)
	}

	gone := filepath.Join(cg, "gone")
	if err := os.Mkdir(gone, 0o755); err != nil {
		t.Fatal(err)
	}
	goneID, err := cgroup.ID(gone)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	if p, err := cgroup.PathOf(goneID); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PathOf(removed cgroup) = %q, %v; want ErrNotExist", p, err)
	}
	if _, err := cgroup.ID(gone); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ID(removed cgroup): %v, want ErrNotExist", err)
	}
}

// TestIDMatchesBPF checks the contract the redirect programs rely on: ID returns exactly what
// bpf_get_current_cgroup_id() reports for a task in that cgroup. A cgroup/connect4 program
// attached to a parent records the id for a process connecting from a child cgroup.
func TestIDMatchesBPF(t *testing.T) {
	testenv.RequireRoot(t)
	parent := testenv.Cgroup(t, "")
	child := testenv.Cgroup(t, parent)

	seen, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer seen.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:       ebpf.CGroupSockAddr,
		AttachType: ebpf.AttachCGroupInet4Connect,
		License:    "GPL",
		Instructions: asm.Instructions{
			// seen[0] = bpf_get_current_cgroup_id(); return 1 (allow the connect)
			asm.FnGetCurrentCgroupId.Call(),
			asm.StoreMem(asm.RFP, -8, asm.R0, asm.DWord),
			asm.StoreImm(asm.RFP, -12, 0, asm.Word),
			asm.LoadMapPtr(asm.R1, seen.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -12),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, -8),
			asm.Mov.Imm(asm.R4, 0),
			asm.FnMapUpdateElem.Call(),
			asm.Mov.Imm(asm.R0, 1),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	l, err := link.AttachCgroup(link.CgroupOptions{Path: parent, Attach: ebpf.AttachCGroupInet4Connect, Program: prog})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), helperEnv+"=connect")
	testenv.Run(t, child, helper)

	var got uint64
	if err := seen.Lookup(uint32(0), &got); err != nil {
		t.Fatal(err)
	}
	want, err := cgroup.ID(child)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("bpf_get_current_cgroup_id() = %d in %s, ID() = %d", got, child, want)
	}
}
