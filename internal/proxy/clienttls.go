package proxy

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/selfsigned"
)

// clientCertLifetime is the generated client-side certificate's validity: the agent makes
// a new one at every start, and no client verifies it.
const clientCertLifetime = 10 * 365 * 24 * time.Hour

// alpnPostgreSQL is the ALPN protocol name PostgreSQL 17+ uses, and requires for direct
// TLS connections (sslnegotiation=direct).
const alpnPostgreSQL = "postgresql"

// clientTLSConfig is the TLS configuration served to clients: the configured certificate,
// or a self-signed one generated now. Clients reach the proxy over loopback or the
// node-local address and use sslmode=prefer or require, which do not verify the
// certificate; the point is that clients insisting on TLS work unmodified.
func clientTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if certFile != "" {
		cert, err = tls.LoadX509KeyPair(certFile, keyFile)
	} else {
		cert, err = selfsigned.Certificate("sluice proxy", clientCertLifetime)
	}
	if err != nil {
		return nil, fmt.Errorf("proxy: client TLS certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{alpnPostgreSQL},
	}, nil
}
