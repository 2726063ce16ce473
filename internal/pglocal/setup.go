package pglocal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// initCluster creates the data directory with initdb and writes the configuration Options ask
// for, all owned by the postgres user.
func (s *Server) initCluster(ctx context.Context, opts Options) error {
	if (opts.SSLCertFile == "") != (opts.SSLKeyFile == "") {
		return errors.New("pglocal: SSLCertFile and SSLKeyFile must be set together")
	}
	if err := os.Chown(s.Dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pglocal: handing %s to the postgres user: %w", s.Dir, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "initdb"),
		"-D", s.dataDir(), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	s.asPostgres(cmd, syscall.SIGKILL)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pglocal: initdb: %w\n%s", err, out)
	}
	conf, err := configLines(opts)
	if err != nil {
		return err
	}
	if opts.SSLCertFile != "" {
		if err := s.copyPrivate(opts.SSLCertFile, "server.crt"); err != nil {
			return err
		}
		if err := s.copyPrivate(opts.SSLKeyFile, "server.key"); err != nil {
			return err
		}
	}
	if err := appendFile(filepath.Join(s.dataDir(), "postgresql.conf"), conf); err != nil {
		return err
	}
	return s.writeOwned(filepath.Join(s.dataDir(), "pg_hba.conf"), hbaLines(opts))
}

// copyPrivate copies src into the data directory as name, owned by postgres with mode 0600, the
// only form PostgreSQL accepts for a private key it owns.
func (s *Server) copyPrivate(src, name string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return s.writeOwned(filepath.Join(s.dataDir(), name), string(b))
}

// writeOwned replaces the file p with content, owned by postgres with mode 0600.
func (s *Server) writeOwned(p, content string) error {
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Chmod(p, 0o600); err != nil { // WriteFile keeps the mode of an existing file
		return fmt.Errorf("pglocal: %w", err)
	}
	if err := os.Chown(p, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	return nil
}

// appendFile appends content to the existing file p, keeping its owner and mode.
func appendFile(p, content string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pglocal: %w", err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return fmt.Errorf("pglocal: %w", err)
	}
	return f.Close()
}

// configLines renders the postgresql.conf additions: pglocal's defaults for a throwaway server,
// then the caller's Settings, which therefore win.
func configLines(opts Options) (string, error) {
	encryption := "scram-sha-256"
	if opts.HostAuth == "md5" {
		encryption = "md5"
	}
	settings := []Setting{
		// The log is stderr, which Start sends to a file in the server's directory.
		{"log_destination", "stderr"},
		{"logging_collector", "off"},
		// The data is discarded after the run: trade durability for speed.
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"password_encryption", encryption},
	}
	if opts.SSLCertFile != "" {
		settings = append(settings, Setting{"ssl", "on"},
			Setting{"ssl_cert_file", "server.crt"}, Setting{"ssl_key_file", "server.key"})
	}
	if opts.LogStatements {
		settings = append(settings, Setting{"log_statement", "all"})
	}
	var b strings.Builder
	b.WriteString("\n# Added by sluice pglocal.\n")
	for _, st := range append(settings, opts.Settings...) {
		if !validName(st.Name) {
			return "", fmt.Errorf("pglocal: invalid setting name %q", st.Name)
		}
		fmt.Fprintf(&b, "%s = %s\n", st.Name, quoteConf(st.Value))
	}
	return b.String(), nil
}

// validName reports whether name can be a configuration parameter (including extension ones
// like "auto_explain.log_min_duration"), so a name cannot inject further lines.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// quoteConf quotes v as a postgresql.conf string, which every parameter type accepts, so values
// need no per-type handling and cannot break out of their line.
func quoteConf(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(v) + "'"
}

// hbaLines renders pg_hba.conf: the caller's lines first (the first match wins), then trust on
// the unix socket and Options.HostAuth for TCP from any address, for databases and replication.
func hbaLines(opts Options) string {
	lines := append([]string{"# Written by sluice pglocal."}, opts.HBA...)
	lines = append(lines,
		"local all all trust",
		"local replication all trust",
		"host all all all "+opts.HostAuth,
		"host replication all all "+opts.HostAuth,
	)
	return strings.Join(lines, "\n") + "\n"
}
