package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machine is how every kernel of the matrix is booted.
type machine struct {
	Accel   string // "kvm" or "tcg"
	Memory  int    // MiB
	CPUs    int
	Timeout time.Duration
	// ReadyWithin bounds the time to the guest's first result line, so a kernel that
	// hangs while booting fails fast instead of using up Timeout.
	ReadyWithin time.Duration
}

// kvmUsable reports whether hardware KVM is there: the kvm_intel or kvm_amd module is
// loaded and /dev/kvm answers the API version ioctl. A /dev/kvm backed by another module,
// such as kvm_pvm (nested virtualisation by shadow paging, found on some cloud VMs), runs
// only specially built guest kernels: a stock Debian kernel hangs in its decompressor there.
func kvmUsable() bool {
	_, intel := os.Stat("/sys/module/kvm_intel")
	_, amd := os.Stat("/sys/module/kvm_amd")
	if intel != nil && amd != nil {
		return false
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	const kvmGetAPIVersion = 0xae00 // _IO(KVMIO, 0x00)
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	return err == nil && v == 12
}

// line is one line of the guest's result port and when the host received it.
type line struct {
	At   time.Duration // since qemu started
	Text string
}

// boot runs the kernel with the initramfs until the guest powers off or the timeout ends.
// Lines of the result port (the second serial port) are passed to onLine as they arrive; the
// console (kernel messages and init's own output) is written to consoleLog.
func (m machine) boot(ctx context.Context, vmlinuz, initrd, consoleLog string, onLine func(line)) error {
	ctx, cancel := context.WithTimeoutCause(ctx, m.Timeout, fmt.Errorf("the VM did not power off within %s", m.Timeout))
	defer cancel()
	ctx, hung := context.WithCancelCause(ctx)
	defer hung(nil)
	bootTimer := time.AfterFunc(m.ReadyWithin, func() {
		hung(fmt.Errorf("the guest's init did not start within %s (see the console log)", m.ReadyWithin))
	})
	defer bootTimer.Stop()
	cpu := "max"
	if m.Accel == "kvm" {
		cpu = "host"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
		"-accel", m.Accel, "-cpu", cpu, "-smp", strconv.Itoa(m.CPUs), "-m", strconv.Itoa(m.Memory),
		"-no-reboot",
		"-kernel", vmlinuz, "-initrd", initrd,
		// panic=-1 reboots at once on a panic, which -no-reboot turns into qemu exiting.
		"-append", "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init random.trust_cpu=on",
		"-serial", "file:" + consoleLog,
		"-serial", "stdio",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu-system-x86_64 (apt-get install qemu-system-x86): %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		bootTimer.Stop()
		onLine(line{At: time.Since(start), Text: strings.TrimRight(sc.Text(), "\r")})
	}
	err = cmd.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	if err != nil {
		return fmt.Errorf("qemu: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
