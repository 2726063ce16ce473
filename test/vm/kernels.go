package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// debianSuites maps a kernel series to the Debian release whose stock kernel it is. Each
// release's own linux-image-amd64 meta-package names the newest kernel of its series, so the
// matrix follows Debian's security updates without a version list to maintain here.
var debianSuites = map[string]string{
	"5.10": "bullseye", // Debian 11, LTS
	"6.1":  "bookworm", // Debian 12
	"6.12": "trixie",   // Debian 13
}

// knownSeries lists debianSuites' keys in version order, for flags and error messages.
func knownSeries() []string {
	var s []string
	for k := range debianSuites {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return versionLess(s[i], s[j]) })
	return s
}

func versionLess(a, b string) bool {
	var a1, a2, b1, b2 int
	fmt.Sscanf(a, "%d.%d", &a1, &a2)
	fmt.Sscanf(b, "%d.%d", &b1, &b2)
	return a1 < b1 || a1 == b1 && a2 < b2
}

// kernel is one booted kernel image of the matrix.
type kernel struct {
	Series  string // "6.1"
	Package string // linux-image-6.1.0-56-amd64
	Version string // the package version, 6.1.192-2
	Release string // uname -r, from the image's file name: 6.1.0-56-amd64
	Vmlinuz string // path of the extracted image
	Config  string // path of the image's kernel configuration
	Modules []string
}

// guestModules are loaded by the guest's init before the tests: the stock kernels build
// these drivers as modules, and the VM has no modprobe to load them on demand as a
// distribution would. Network namespace tests connect namespaces with veth pairs, and the
// agent's node-local address lives on a dummy interface. Each has no dependencies on the
// kernels served (their .modinfo says depends=); a module that needs another fails to load
// and the guest reports it.
var guestModules = []string{"veth", "dummy"}

// moduleFile matches the guestModules in a kernel package; Debian ships them uncompressed
// up to 6.1 and xz-compressed since.
var moduleFile = regexp.MustCompile(`^\./(usr/)?lib/modules/[^/]+/kernel/.*/(` + strings.Join(guestModules, "|") + `)\.ko(\.xz)?$`)

// bootOptions must be built into a kernel (=y) for the guest to boot and report at all:
// they are needed before init could load a module. The features under test (BPF, cgroup BPF, IPv6) are
// deliberately not checked here; where one is missing, the suites must say so.
var bootOptions = []string{
	"CONFIG_BLK_DEV_INITRD",
	"CONFIG_DEVTMPFS",
	"CONFIG_SERIAL_8250",
	"CONFIG_SERIAL_8250_CONSOLE",
	"CONFIG_TMPFS",
	"CONFIG_PROC_FS",
	"CONFIG_SYSFS",
	"CONFIG_BINFMT_SCRIPT",
	"CONFIG_BINFMT_ELF",
}

// checkBootConfig fails naming each boot option the kernel lacks.
func checkBootConfig(k kernel) error {
	b, err := os.ReadFile(k.Config)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if opt, ok := strings.CutSuffix(line, "=y"); ok {
			have[opt] = true
		}
	}
	var missing []string
	for _, o := range bootOptions {
		if !have[o] {
			missing = append(missing, o)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s cannot boot the test initramfs: %s not built in", k.Package, strings.Join(missing, ", "))
	}
	return nil
}

// archive fetches kernel packages with apt, through a private apt configuration per Debian
// release under the cache directory: the host's own sources (and its release) stay
// untouched, and any release the mirror serves can be booted.
type archive struct {
	cache    string // root of the cache directory
	mirror   string // Debian archive, e.g. http://deb.debian.org/debian
	security string // Debian security archive
	keyring  string
	log      io.Writer
}

// fetch returns the newest stock amd64 kernel of series, downloading and extracting it
// into the cache when it is not there yet.
func (a *archive) fetch(series string) (kernel, error) {
	suite, ok := debianSuites[series]
	if !ok {
		return kernel{}, fmt.Errorf("kernel series %q is not known: choose from %s", series, strings.Join(knownSeries(), ", "))
	}
	apt, err := a.aptFor(suite)
	if err != nil {
		return kernel{}, err
	}
	pkg, err := apt.dependency("linux-image-amd64", "linux-image-")
	if err != nil {
		return kernel{}, err
	}
	if !strings.HasPrefix(pkg, "linux-image-"+series+".") {
		return kernel{}, fmt.Errorf("the kernel of Debian %s is %s now, not of the %s series: update debianSuites in test/vm", suite, pkg, series)
	}
	version, err := apt.candidate(pkg)
	if err != nil {
		return kernel{}, err
	}
	k := kernel{Series: series, Package: pkg, Version: version}
	dir := filepath.Join(a.cache, "kernels", pkg+"_"+version)
	if err = k.locate(dir); err == nil {
		return k, nil
	}
	fmt.Fprintf(a.log, "fetching %s %s from Debian %s\n", pkg, version, suite)
	deb, err := apt.download(pkg, version)
	if err != nil {
		return kernel{}, err
	}
	defer os.Remove(deb) // ~70 MB of modules the VM never needs; the image is kept
	if err := extractBoot(deb, dir); err != nil {
		return kernel{}, err
	}
	return k, k.locate(dir)
}

// locate finds the extracted image and configuration in dir.
func (k *kernel) locate(dir string) error {
	m, err := filepath.Glob(filepath.Join(dir, "vmlinuz-*"))
	if err != nil {
		return err
	}
	if len(m) != 1 {
		return fmt.Errorf("%d kernel images in %s", len(m), dir)
	}
	k.Vmlinuz = m[0]
	k.Release = strings.TrimPrefix(filepath.Base(m[0]), "vmlinuz-")
	k.Config = filepath.Join(dir, "config-"+k.Release)
	if _, err = os.Stat(k.Config); err != nil {
		return err
	}
	k.Modules = nil
	for _, name := range guestModules {
		m, err := filepath.Glob(filepath.Join(dir, "modules", name+".ko*"))
		if err != nil || len(m) != 1 {
			return fmt.Errorf("module %s: %d files in %s/modules (%v)", name, len(m), dir, err)
		}
		k.Modules = append(k.Modules, m[0])
	}
	return nil
}

// extractBoot writes the package's /boot/vmlinuz-* and /boot/config-* and the guestModules
// into dir. dpkg-deb
// unpacks the .deb container; the data tarball inside is read with archive/tar.
func extractBoot(deb, dir string) error {
	tmp := dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "modules"), 0o755); err != nil {
		return err
	}
	cmd := exec.Command("dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	data, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb (apt-get install dpkg): %w", err)
	}
	boot := regexp.MustCompile(`^\./boot/(vmlinuz|config)-[^/]+$`)
	extractErr := extractTar(data, func(name string) string {
		switch {
		case boot.MatchString(name):
			return filepath.Join(tmp, filepath.Base(name))
		case moduleFile.MatchString(name):
			return filepath.Join(tmp, "modules", filepath.Base(name))
		}
		return ""
	})
	io.Copy(io.Discard, data) // let dpkg-deb finish writing
	if err := errors.Join(extractErr, cmd.Wait()); err != nil {
		return fmt.Errorf("extract %s: %w %s", deb, err, stderr.String())
	}
	if err := os.RemoveAll(dir); err != nil { // an incomplete earlier extraction
		return err
	}
	return os.Rename(tmp, dir)
}

// extractTar writes each regular file of the tarball to the path dest returns for its name
// (none when dest returns "").
func extractTar(r io.Reader, dest func(name string) string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		to := dest(h.Name)
		if h.Typeflag != tar.TypeReg || to == "" {
			continue
		}
		f, err := os.Create(to)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		if err := errors.Join(err, f.Close()); err != nil {
			return err
		}
	}
}
