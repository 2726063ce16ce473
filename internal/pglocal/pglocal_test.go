package pglocal

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("pglocal tests need root: the server runs as the postgres OS user")
	}
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// psqlAs runs the server's psql binary with conn and the password in PGPASSWORD.
func psqlAs(t *testing.T, s *Server, conn, password, sql string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(s.bin, "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", conn, "-c", sql)
	cmd.Env = append(childEnv(), "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestStartScramStop(t *testing.T) {
	const superPW = `s3cret'pw\`
	s := start(t, Options{
		HostAuth:          "scram-sha-256",
		SuperuserPassword: superPW,
		LogStatements:     true,
		Settings:          []Setting{{"log_connections", "on"}},
	})
	ctx := t.Context()

	if got, err := s.Query(ctx, "select 1"); err != nil || got != "1" {
		t.Fatalf("select 1 = %q, %v", got, err)
	}
	if err := s.Exec(ctx, "create role alice login password 'alice-pw'"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Query(ctx, "select left(rolpassword, 14) from pg_authid where rolname = 'alice'"); got != "SCRAM-SHA-256$" {
		t.Errorf("alice's password is stored as %q..., want SCRAM-SHA-256$...", got)
	}
	if err := s.Exec(ctx, "select * from no_such_table"); err == nil || !strings.Contains(err.Error(), "no_such_table") {
		t.Errorf("Exec of a failing statement: err = %v, want one naming no_such_table", err)
	}

	got, err := psqlAs(t, s, s.ConnString("alice", "postgres"), "alice-pw",
		"select usename, client_addr from pg_stat_activity where pid = pg_backend_pid()")
	if err != nil || got != "alice|127.0.0.1" {
		t.Errorf("alice over TCP: %q, %v; want alice|127.0.0.1", got, err)
	}
	if out, err := psqlAs(t, s, s.ConnString("alice", "postgres"), "wrong", "select 1"); err == nil || !strings.Contains(out, "password authentication failed") {
		t.Errorf("wrong password: %q, %v; want password authentication failure", out, err)
	}
	if got, err := psqlAs(t, s, s.ConnString("postgres", "postgres"), superPW, "select current_user"); err != nil || got != "postgres" {
		t.Errorf("superuser over TCP: %q, %v", got, err)
	}
	if got, err := psqlAs(t, s, s.SocketConnString("alice", "postgres"), "", "select current_user"); err != nil || got != "alice" {
		t.Errorf("alice over the socket without password: %q, %v", got, err)
	}

	log, err := s.Log()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`identity="alice" method=scram-sha-256`, "statement: select 1"} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("server log contains the superuser password:\n%s", log)
	}

	postmaster := s.cmd.Process.Pid
	children := childrenOf(t, postmaster)
	if len(children) == 0 {
		t.Fatal("found no children of the postmaster to check after Stop")
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(children, postmaster) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("process %d still exists after Stop", pid)
		}
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Stop (err %v)", s.Dir, err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// childrenOf returns the pids whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var kids []int
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after the parenthesised command name: state, ppid, ...
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, kid)
		}
	}
	return kids
}

func TestTLSAndHBA(t *testing.T) {
	certFile, keyFile := selfSignedCert(t)
	s := start(t, Options{
		SSLCertFile: certFile,
		SSLKeyFile:  keyFile,
		HBA:         []string{"host all mallory all reject"},
	})
	if err := s.Exec(t.Context(), "create role mallory login; create role bob login"); err != nil {
		t.Fatal(err)
	}
	tlsConn := strings.Replace(s.ConnString("bob", "postgres"), "sslmode=disable", "sslmode=require", 1)
	if got, err := psqlAs(t, s, tlsConn, "", "select ssl from pg_stat_ssl where pid = pg_backend_pid()"); err != nil || got != "t" {
		t.Errorf("TLS connection: %q, %v; want ssl = t", got, err)
	}
	if out, err := psqlAs(t, s, s.ConnString("mallory", "postgres"), "", "select 1"); err == nil || !strings.Contains(out, "rejects connection") {
		t.Errorf("mallory: %q, %v; want rejected by the extra HBA line", out, err)
	}
}

// selfSignedCert writes a throwaway certificate and key, readable only by root, into a temp
// dir: the server must still be able to use them.
func selfSignedCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestStartFailureQuotesLog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("pglocal tests need root")
	}
	_, err := Start(context.Background(), Options{Settings: []Setting{{"no_such_parameter", "1"}}})
	if err == nil || !strings.Contains(err.Error(), "no_such_parameter") {
		t.Fatalf("Start with a bad setting: %v; want an error quoting the server log", err)
	}
	left, _ := filepath.Glob(filepath.Join(os.TempDir(), DirPrefix+strconv.Itoa(os.Getpid())+"-*"))
	if len(left) > 0 {
		t.Errorf("failed Start left %v behind", left)
	}
}

func TestConfigQuoting(t *testing.T) {
	conf, err := configLines(Options{Settings: []Setting{{"application_name", "it's a \\ test\nx = 1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `application_name = 'it''s a \\ test\nx = 1'` + "\n"; !strings.HasSuffix(conf, want) {
		t.Errorf("config ends with %q, want %q", conf[strings.LastIndex(conf[:len(conf)-1], "\n")+1:], want)
	}
	if _, err := configLines(Options{Settings: []Setting{{"a = 1\nb", "2"}}}); err == nil {
		t.Error("a setting name with a newline was accepted")
	}
}

func TestDialHost(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1": "127.0.0.1", "*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "::1, 127.0.0.1": "::1", "10.1.2.3,127.0.0.1": "10.1.2.3"} {
		if got := dialHost(in); got != want {
			t.Errorf("dialHost(%q) = %q, want %q", in, got, want)
		}
	}
}
