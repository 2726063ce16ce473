package oidclocal

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/internal/selfsigned"
)

// certLifetime is how long the generated certificate is valid: long enough for any demo left
// running, and the key never leaves the process, so a long life exposes nothing.
const certLifetime = 30 * 24 * time.Hour

// selfSignedCert makes the issuer's own certificate (see package selfsigned).
func selfSignedCert() (tls.Certificate, error) {
	cert, err := selfsigned.Certificate("sluice oidclocal issuer", certLifetime)
	if err != nil {
		return cert, fmt.Errorf("oidclocal: %w", err)
	}
	return cert, nil
}
