package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sluicehq/sluice/internal/pglocal"
	"github.com/sluicehq/sluice/internal/testenv"
)

// TestClientSSLModes connects with each client sslmode (and direct TLS negotiation) and
// checks that the session works and is encrypted exactly when the mode asks for it.
func TestClientSSLModes(t *testing.T) {
	p := startProxy(t, sharedPostgres(t), nil)
	cases := []struct {
		params  string
		wantTLS bool
	}{
		{"sslmode=disable", false},
		{"sslmode=prefer", true},
		{"sslmode=require", true},
		{"sslmode=require&sslnegotiation=direct", true},
	}
	for _, c := range cases {
		conn := connectTo(t, strings.Replace(p.connString("postgres", "disable"), "sslmode=disable", c.params, 1))
		var n int
		if err := conn.QueryRow(t.Context(), "select 42").Scan(&n); err != nil || n != 42 {
			t.Fatalf("%s: select 42 = %d, %v", c.params, n, err)
		}
		if _, isTLS := conn.PgConn().Conn().(*tls.Conn); isTLS != c.wantTLS {
			t.Errorf("%s: TLS = %v, want %v", c.params, isTLS, c.wantTLS)
		}
	}
	stdout, stderr, err := pgTool(t, "", "psql", "-X", "-At", "-d", p.connString("postgres", "require"), "-c", `\conninfo`)
	if err != nil || !strings.Contains(stdout, "SSL connection") {
		t.Fatalf("psql sslmode=require: %v %q %q", err, stdout, stderr)
	}
}

// TestUpstreamVerifyFull runs the upstream with a certificate from a test CA: verify-full
// with that CA connects over TLS; with another CA the client gets a clear error and no
// session; require mode encrypts without verifying.
func TestUpstreamVerifyFull(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	otherCA := newTestCA(t, dir, "other-ca")
	cert, key := ca.issue(t, dir, "server")
	pg := testenv.Postgres(t, pglocal.Options{
		HostAuth: "scram-sha-256", SuperuserPassword: superPassword, SSLCertFile: cert, SSLKeyFile: key,
	})
	upstreamTLS := func(mode TLSMode, caFile string) func(*Config) {
		return func(c *Config) { c.Targets[0].TLS, c.Targets[0].CAFile = mode, caFile }
	}

	for _, mode := range []TLSMode{TLSVerifyFull, TLSRequire} {
		p := startProxy(t, pg, upstreamTLS(mode, ca.file))
		var ssl bool
		if err := p.connect(t).QueryRow(t.Context(), "select ssl from pg_stat_ssl where pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
			t.Fatalf("%s: upstream ssl = %v, %v", mode, ssl, err)
		}
	}

	p := startProxy(t, pg, upstreamTLS(TLSVerifyFull, otherCA.file))
	_, err := pgx.Connect(t.Context(), p.connString("postgres", "disable"))
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok || pgErr.Code != CodeUnableToConnect || !strings.Contains(pgErr.Message, "certificate signed by unknown authority") {
		t.Fatalf("verify-full with the wrong CA: %v; want SQLSTATE 08001 naming the certificate problem", err)
	}
	if p.Sessions() != 0 {
		t.Fatalf("%d sessions after a refused upstream", p.Sessions())
	}

	p = startProxy(t, pg, upstreamTLS(TLSRequire, otherCA.file))
	p.connect(t) // require does not verify, whatever CA is configured
}

// TestPasswordRotation rotates the upstream user's password and the password file while a
// session is open: the open session goes on, and new sessions use the new password.
func TestPasswordRotation(t *testing.T) {
	pg := sharedPostgres(t)
	if err := pg.Exec(t.Context(), "drop role if exists rotator; create role rotator login password 'first';"); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "rotator.pw")
	writePassword := func(pw string) {
		// Replace the file the way secret mounts do: write a new one, rename it over.
		tmp := pwFile + ".new"
		if err := os.WriteFile(tmp, []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, pwFile); err != nil {
			t.Fatal(err)
		}
	}
	writePassword("first")
	p := startProxy(t, pg, func(c *Config) {
		c.Targets[0].User, c.Targets[0].Password = "rotator", PasswordFile(pwFile)
	})
	whoami := func(conn *pgx.Conn) string {
		var u string
		if err := conn.QueryRow(t.Context(), "select current_user").Scan(&u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	old := p.connect(t)

	if err := pg.Exec(t.Context(), "alter role rotator password 'second';"); err != nil {
		t.Fatal(err)
	}
	_, err := pgx.Connect(t.Context(), p.connString("postgres", "disable"))
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); !ok || pgErr.Code != "28P01" {
		t.Fatalf("new session with the stale password file: %v, want 28P01", err)
	}
	writePassword("second")
	if u := whoami(p.connect(t)); u != "rotator" {
		t.Fatalf("new session runs as %q", u)
	}
	if u := whoami(old); u != "rotator" {
		t.Fatalf("old session runs as %q", u)
	}
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // the CA certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, file: file}
}

// issue makes a server certificate for 127.0.0.1 and localhost and returns its files.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, name+".crt"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(dir, name+".key"), "PRIVATE KEY", keyDER)
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
