// Package oidclocal runs a throwaway local OpenID provider: a real HTTPS server on loopback
// serving a discovery document and a JWK set, with signing keys it can add, publish, withdraw
// and sign tokens with. Identity verification must be tested against the real protocol (TLS,
// discovery, key sets, rotation, outages), not a mock of it, and `sluice demo` and the
// end-to-end tests need an issuer whose tokens the agent really verifies, without reaching any
// provider on the network. It is the OIDC sibling of pglocal.
package oidclocal

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// DirPrefix starts the name of every temporary directory Start creates, followed by the
// creating process's pid and a random suffix, so leak checks and operators can tell which run
// left a directory behind.
const DirPrefix = "sluice-oidc-"

// Issuer is a running local OpenID provider. Its issuer identifier is URL(); clients trust it
// through the certificate in CAFile(), which is generated for this issuer alone.
type Issuer struct {
	url    string
	dir    string
	caFile string
	srv    *http.Server
	served chan struct{} // closed when the server's Serve returned
	client *http.Client

	mu        sync.Mutex
	keys      map[string]signingKey
	published []string

	discoveryHits, jwksHits atomic.Int64
	unavailable             atomic.Bool
	jwksURI                 atomic.Pointer[string]

	closeOnce sync.Once
	closeErr  error
}

// Start generates a fresh TLS certificate for 127.0.0.1, writes it to a temporary directory
// (CAFile) and serves the provider on a random loopback port until Close. The issuer starts
// with no keys: AddKey creates them.
func Start() (*Issuer, error) {
	cert, err := selfSignedCert()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", DirPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("oidclocal: %w", err)
	}
	is := &Issuer{dir: dir, caFile: filepath.Join(dir, "ca.pem"), keys: map[string]signingKey{}, served: make(chan struct{})}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Leaf.Raw})
	if err := os.WriteFile(is.caFile, certPEM, 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("oidclocal: writing the CA file: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("oidclocal: %w", err)
	}
	is.url = "https://" + ln.Addr().String()

	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	is.client = &http.Client{Transport: transport}

	is.srv = &http.Server{
		Handler:   is.handler(),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		// Clients that do not trust CAFile (tests checking exactly that) fail the handshake;
		// those failures are the client's to report, not noise for the caller's output.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(is.served)
		_ = is.srv.ServeTLS(ln, "", "") // returns ErrServerClosed after Close
	}()
	return is, nil
}

// Close stops the server, dropping open connections, and removes the temporary directory with
// CAFile. It is safe to call more than once (later calls return the first result), so a test
// can take the issuer down mid-test, as a provider outage, and still leave Close in its
// cleanup. The keys stay usable: Sign, Public and JWKS keep working after Close.
func (is *Issuer) Close() error {
	is.closeOnce.Do(func() {
		err := is.srv.Close()
		<-is.served
		is.client.CloseIdleConnections()
		if err != nil {
			err = fmt.Errorf("oidclocal: stopping the server: %w", err)
		}
		is.closeErr = errors.Join(err, os.RemoveAll(is.dir))
	})
	return is.closeErr
}

// URL is the issuer identifier: the https base URL tokens name in "iss" and verifiers discover
// the provider from.
func (is *Issuer) URL() string { return is.url }

// CAFile is a PEM file holding the issuer's TLS certificate, the only root a verifier needs to
// trust it (identity's ca_file). Close removes it.
func (is *Issuer) CAFile() string { return is.caFile }

// Client returns an HTTP client that trusts the issuer's certificate, for callers that talk to
// the provider directly (go-oidc's oidc.ClientContext, or checking what it serves) rather than
// through a configuration naming CAFile.
func (is *Issuer) Client() *http.Client { return is.client }
