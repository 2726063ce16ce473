// Command vm runs sluice's kernel-facing test suites on other kernels than the host's: it
// fetches Debian's stock kernels with apt, boots each under qemu with a small initramfs
// holding busybox and the compiled test binaries, and reports a pass/fail table. Users run
// sluice on whatever kernels their fleets have; this is how the eBPF half is shown to work
// there (and to refuse clearly where it cannot).
//
// Usage (as root, from the repository): go run ./test/vm -kernels 5.10,6.1,6.12
//
// See test/vm/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

// config is what the flags ask for.
type config struct {
	kernels  []string
	cache    string
	mutation *mutation
	machine  machine
	archive  archive
	keep     bool
}

func parseFlags() (config, error) {
	var (
		c       config
		kernels = flag.String("kernels", strings.Join(knownSeries(), ","), "comma-separated kernel series to boot: "+strings.Join(knownSeries(), ", "))
		mutate  = flag.String("mutate", "", "compile a deliberate defect into the suites (no-getpeername); the run then succeeds only if every kernel's suites ran and caught it")
		mirror  = flag.String("mirror", "http://deb.debian.org/debian", "Debian archive the kernels are fetched from")
		secMirr = flag.String("security-mirror", "http://deb.debian.org/debian-security", "Debian security archive")
		keyring = flag.String("keyring", "/usr/share/keyrings/debian-archive-keyring.gpg", "keyring the archives are verified with")
		accel   = flag.String("accel", "auto", "qemu accelerator: kvm, tcg (software emulation), or auto (kvm when the host has hardware KVM)")
	)
	flag.StringVar(&c.cache, "cache", "/var/cache/sluice-vm", "where kernels, apt lists and build output are kept (outside the repository)")
	flag.IntVar(&c.machine.Memory, "memory", 1024, "guest memory in MiB")
	flag.IntVar(&c.machine.CPUs, "cpus", 2, "guest CPUs")
	flag.DurationVar(&c.machine.Timeout, "timeout", 0, "per-kernel limit from boot to power-off (default 10m with kvm, 45m with tcg)")
	flag.BoolVar(&c.keep, "keep", false, "keep the initramfs, test binaries and console logs of this run")
	flag.Parse()
	if flag.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	for _, k := range strings.Split(*kernels, ",") {
		if k = strings.TrimSpace(k); k != "" {
			if _, ok := debianSuites[k]; !ok {
				return c, fmt.Errorf("kernel series %q is not known: choose from %s", k, strings.Join(knownSeries(), ", "))
			}
			c.kernels = append(c.kernels, k)
		}
	}
	if len(c.kernels) == 0 {
		return c, errors.New("-kernels names no kernel series")
	}
	if *mutate != "" {
		m, err := findMutation(*mutate)
		if err != nil {
			return c, err
		}
		c.mutation = m
	}
	switch c.machine.Accel = *accel; *accel {
	case "auto":
		c.machine.Accel = "tcg"
		if kvmUsable() {
			c.machine.Accel = "kvm"
		}
	case "kvm", "tcg":
	default:
		return c, fmt.Errorf("-accel %q: want kvm, tcg or auto", *accel)
	}
	c.machine.ReadyWithin = 2 * time.Minute
	if c.machine.Timeout == 0 {
		c.machine.Timeout = 10 * time.Minute
		if c.machine.Accel == "tcg" {
			c.machine.Timeout = 45 * time.Minute
		}
	}
	c.archive = archive{cache: c.cache, mirror: *mirror, security: *secMirr, keyring: *keyring, log: os.Stderr}
	return c, nil
}

func run() int {
	c, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := prepare(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm:", err)
		return 1
	}
	if !c.keep {
		defer os.RemoveAll(work)
	}
	if c.mutation != nil {
		fmt.Printf("mutation %s: %s; the suites must fail on every kernel\n", c.mutation.Name, c.mutation.What)
	}
	var runs []*kernelRun
	for _, series := range c.kernels {
		if ctx.Err() != nil {
			break
		}
		runs = append(runs, runKernel(ctx, c, series, work))
	}
	summary(os.Stdout, runs, c)
	if c.keep {
		fmt.Printf("initramfs, binaries and console logs kept in %s\n", work)
	}
	return verdict(os.Stdout, runs, c)
}

// prepare checks the host tools, builds the suites and the initramfs, and returns the run's
// work directory.
func prepare(c config) (string, error) {
	for tool, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "dpkg-deb": "dpkg", "apt-get": "apt", "go": "golang"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%s not found: apt-get install %s", tool, pkg)
		}
	}
	const busybox = "/bin/busybox"
	if err := checkStatic(busybox, "apt-get install busybox-static"); err != nil {
		return "", err
	}
	modRoot, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(c.cache, "runs"), 0o755); err != nil {
		return "", err
	}
	work, err := os.MkdirTemp(filepath.Join(c.cache, "runs"), time.Now().Format("20060102-150405-"))
	if err != nil {
		return "", err
	}
	start := time.Now()
	if err := buildSuites(modRoot, work, c.mutation); err != nil {
		os.RemoveAll(work)
		return "", err
	}
	for _, s := range suites {
		if err := checkStatic(filepath.Join(work, s.Name+".test"), "built with CGO_ENABLED=0"); err != nil {
			os.RemoveAll(work)
			return "", err
		}
	}
	host, err := hostFiles()
	if err != nil {
		os.RemoveAll(work)
		return "", err
	}
	testTimeout := c.machine.Timeout * 3 / 4 / time.Duration(len(suites))
	if err := buildInitramfs(filepath.Join(work, "initramfs.cpio"), busybox, work, host, testTimeout); err != nil {
		os.RemoveAll(work)
		return "", fmt.Errorf("initramfs: %w", err)
	}
	fmt.Fprintf(os.Stderr, "built %d suites and the initramfs in %s\n", len(suites), time.Since(start).Round(100*time.Millisecond))
	return work, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the sluice repository")
	}
	return filepath.Dir(gomod), nil
}

// runKernel fetches and boots one kernel, printing each test's result as its suite ends.
func runKernel(ctx context.Context, c config, series, work string) *kernelRun {
	k := &kernelRun{Accel: c.machine.Accel, Kernel: kernel{Series: series}}
	k.Kernel, k.Err = c.archive.fetch(series)
	if k.Err != nil {
		k.Kernel.Series = series
		fmt.Printf("ERROR %-22s %v\n", series, k.Err)
		return k
	}
	if k.Err = checkBootConfig(k.Kernel); k.Err != nil {
		fmt.Printf("ERROR %-22s %v\n", k.Kernel.Release, k.Err)
		return k
	}
	fmt.Fprintf(os.Stderr, "booting %s (%s %s) with %s\n", k.Kernel.Release, k.Kernel.Package, k.Kernel.Version, c.machine.Accel)
	console := filepath.Join(work, "console-"+k.Kernel.Release+".log")
	results, err := os.Create(filepath.Join(work, "results-"+k.Kernel.Release+".log"))
	if err != nil {
		k.Err = err
		return k
	}
	defer results.Close()
	var last time.Duration
	initrd := filepath.Join(work, "initramfs-"+k.Kernel.Release+".cpio")
	if k.Err = withModules(initrd, filepath.Join(work, "initramfs.cpio"), k.Kernel.Modules); k.Err != nil {
		return k
	}
	defer os.Remove(initrd)
	err = c.machine.boot(ctx, k.Kernel.Vmlinuz, initrd, console, func(l line) {
		last = l.At
		fmt.Fprintf(results, "%8.3fs %s\n", l.At.Seconds(), l.Text)
		k.onLine(l, func(s *suiteRun) { printSuite(os.Stdout, k.Kernel.Release, s) })
	})
	k.Wall = last
	if s := k.interrupted(last); s != nil {
		printSuite(os.Stdout, k.Kernel.Release, s)
	}
	if err == nil && !k.Done {
		err = errors.New("the guest powered off before its init finished")
	}
	if err != nil {
		k.Err = err
		fmt.Printf("ERROR %-22s %v; the console's last lines:\n", k.Kernel.Release, err)
		printTail(os.Stdout, console, 30)
	}
	return k
}
