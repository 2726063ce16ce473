package pglocal

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ConnString returns a URL connecting over TCP as user to database db, with TLS off. The
// password, when HostAuth needs one, is for the caller to supply (PGPASSWORD, or a config
// field), so it never ends up in logged connection strings.
func (s *Server) ConnString(user, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// SocketConnString returns a URL connecting over the unix socket, where every role is
// trusted: for test setup and for checking the database's state behind the proxy's back.
func (s *Server) SocketConnString(user, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Path:     "/" + db,
		RawQuery: url.Values{"host": {s.SocketDir}, "port": {strconv.Itoa(s.Port)}}.Encode(),
	}
	return u.String()
}

// Exec runs sql, one or more statements (psql meta-commands such as \connect included), as the
// superuser in database postgres over the unix socket, stopping at the first error. It is for
// setup: roles, databases, schemas, data.
func (s *Server) Exec(ctx context.Context, sql string) error {
	_, err := s.Query(ctx, sql)
	return err
}

// Query is Exec returning the output: unaligned, tuples only (fields separated by "|", one row
// per line, no trailing newline), so a test can compare it with a plain string.
func (s *Server) Query(ctx context.Context, sql string) (string, error) {
	out, stderr, err := s.psql(ctx, sql)
	if err != nil {
		return "", fmt.Errorf("pglocal: psql: %w: %s", err, strings.TrimSpace(stderr))
	}
	return out, nil
}

// setSuperuserPassword sets the postgres role's password. The statement is not logged (even
// with LogStatements) and the password is redacted from errors, so it appears nowhere.
func (s *Server) setSuperuserPassword(ctx context.Context, password string) error {
	sql := "SET log_statement = 'none';\nALTER ROLE postgres PASSWORD '" + strings.ReplaceAll(password, "'", "''") + "';"
	if _, stderr, err := s.psql(ctx, sql); err != nil {
		return fmt.Errorf("pglocal: setting the superuser password: %w: %s", err, strings.ReplaceAll(stderr, password, "***"))
	}
	return nil
}

// psql runs the SQL script through psql as the superuser over the unix socket. The script goes
// in on stdin, not the command line, so it has no length limit and is not visible in ps.
func (s *Server) psql(ctx context.Context, sql string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "psql"), "-X", "-q", "-At",
		"-v", "ON_ERROR_STOP=1", "-h", s.SocketDir, "-p", strconv.Itoa(s.Port), "-U", "postgres", "-d", "postgres")
	cmd.Env = childEnv()
	cmd.Stdin = strings.NewReader(sql)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return strings.TrimSuffix(out.String(), "\n"), errb.String(), err
}
