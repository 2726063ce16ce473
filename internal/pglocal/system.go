package pglocal

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// binDir finds the directory with the PostgreSQL server binaries. pg_config is asked first,
// because it names the installation the system considers current; the newest
// /usr/lib/postgresql/*/bin is the fallback for Debian-style layouts where pg_config is missing
// or belongs to a client-only package and points at a directory without a server.
func binDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); isFile(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin") // the pattern is valid
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !isFile(filepath.Join(d, "postgres")) })
	if len(dirs) == 0 {
		return "", errors.New("pglocal: no PostgreSQL server binaries found (pg_config --bindir, /usr/lib/postgresql/*/bin); install the postgresql server package")
	}
	return slices.MaxFunc(dirs, func(a, b string) int { return cmp.Compare(majorOf(a), majorOf(b)) }), nil
}

// majorOf returns the major version in a /usr/lib/postgresql/<major>/bin path, so that 15 sorts
// after 9.6 (a string comparison would not).
func majorOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64) // non-numeric sorts first
	return v
}

// isFile reports whether p exists and is a regular file.
func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// postgresUser returns the credentials of the postgres OS user, which owns the cluster and runs
// its processes: PostgreSQL refuses to run as root. No supplementary groups are kept, so the
// server gets none of root's.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pglocal: the postgres OS user is needed to run the server: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// childEnv is the environment of every PostgreSQL program pglocal runs: the caller's, minus
// PG* variables, so a developer's PGHOST, PGPORT or PGSSLMODE cannot steer the helpers to
// another server or change how they connect.
func childEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
}

// asPostgres prepares cmd to run as the postgres user in the server's directory (the caller's
// working directory may be unreadable to that user), and to be killed with sig if the calling
// process dies, so a crashed test leaves no server running.
func (s *Server) asPostgres(cmd *exec.Cmd, sig syscall.Signal) {
	cmd.Dir = s.Dir
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: sig}
}

// postmaster returns the command running the postgres server binary with args as the postgres
// user, to be killed with SIGQUIT if the calling process dies: an immediate shutdown which,
// unlike SIGKILL, still stops the backends and frees shared memory. With Options.Netns, `ip
// netns exec` enters the namespace (which only root may do) and setpriv then drops to the
// postgres user, restoring the parent-death signal that the change of user clears (measured:
// without --pdeathsig=keep, a command started this way outlived its parent). Both exec in
// place, so the process started is the postmaster itself, as Stop expects.
func (s *Server) postmaster(args ...string) *exec.Cmd {
	bin := filepath.Join(s.bin, "postgres")
	if s.netns == "" {
		cmd := exec.Command(bin, args...)
		s.asPostgres(cmd, syscall.SIGQUIT)
		return cmd
	}
	wrap := []string{"netns", "exec", s.netns, "setpriv",
		"--reuid=" + strconv.FormatUint(uint64(s.cred.Uid), 10), "--regid=" + strconv.FormatUint(uint64(s.cred.Gid), 10),
		"--clear-groups", "--pdeathsig=keep", "--", bin}
	cmd := exec.Command("ip", append(wrap, args...)...)
	s.asPostgres(cmd, syscall.SIGQUIT)
	cmd.SysProcAttr.Credential = nil // setpriv switches user once inside the namespace
	return cmd
}

// checkNetns rejects a network namespace name that `ip netns` does not know, before anything
// is set up, with a message saying where it looked.
func checkNetns(name string) error {
	if name == "" {
		return nil
	}
	if strings.Contains(name, "/") || name == "." || name == ".." {
		return fmt.Errorf("pglocal: invalid network namespace name %q", name)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err != nil {
		return fmt.Errorf("pglocal: network namespace %q: %w (create it with `ip netns add`)", name, err)
	}
	return nil
}
