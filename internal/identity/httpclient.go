package identity

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"

	"golang.org/x/time/rate"
)

// maxProviderResponse caps a discovery document or key set. go-oidc reads whole bodies into
// memory, so a broken or hostile endpoint could otherwise exhaust the agent's memory.
const maxProviderResponse = 1 << 20

// ErrFetchLimited means a request to an issuer was not made because its refetch budget
// (IssuerConfig.JWKSRefetch) is spent. Verification that needed it fails closed.
var ErrFetchLimited = errors.New("request to the issuer not made: refetch rate limit reached")

// limitedTransport is the HTTP transport for one issuer. Every request spends a token of the
// issuer's bucket or is not made at all. The limit sits here, below go-oidc, because
// oidc.RemoteKeySet refetches the key set whenever a token's signature does not verify with
// the cached keys (an unknown kid, but also a tampered token with a known kid), with no limit of
// its own beyond merging concurrent fetches; wrapping the transport bounds every request it
// and discovery make, and a refused request leaves its cached keys in place.
type limitedTransport struct {
	issuer  string
	limiter *rate.Limiter
	next    http.RoundTripper
}

// RoundTrip makes req if it is https and the issuer's budget allows, and caps the response.
func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Checked here so it covers the jwks_uri a discovery document names and every redirect:
	// keys fetched over plain HTTP could be replaced by anyone on the path.
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%s: refusing to fetch %s: keys are fetched over https only", t.issuer, req.URL.Redacted())
	}
	if !t.limiter.Allow() {
		return nil, fmt.Errorf("%s: %w", t.issuer, ErrFetchLimited)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, maxProviderResponse)
	return resp, nil
}

// newHTTPClient returns the client for an issuer's discovery and key set requests: TLS to the
// configured roots, a timeout per request, https only, and the refetch limit.
func newHTTPClient(cfg *IssuerConfig) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tlsConf.RootCAs = x509.NewCertPool()
		if !tlsConf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificates in it", cfg.CAFile)
		}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConf
	limit := cfg.JWKSRefetch
	return &http.Client{
		Timeout: cfg.HTTPTimeout,
		Transport: &limitedTransport{
			issuer:  cfg.Issuer,
			limiter: rate.NewLimiter(rate.Every(limit.Interval), limit.Burst),
			next:    base,
		},
	}, nil
}
