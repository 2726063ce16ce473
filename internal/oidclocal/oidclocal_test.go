package oidclocal

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

func start(t *testing.T) *Issuer {
	t.Helper()
	is, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := is.Close(); err != nil {
			t.Error(err)
		}
	})
	return is
}

// TestMain fails the run if any test left a temporary directory of this process behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if left, _ := filepath.Glob(filepath.Join(os.TempDir(), DirPrefix+strconv.Itoa(os.Getpid())+"-*")); len(left) > 0 {
		os.Stderr.WriteString("left behind: " + strings.Join(left, " ") + "\n")
		code = 1
	}
	os.Exit(code)
}

// caClient is an HTTP client trusting only the certificate in CAFile, as a verifier configured
// with it does: the file, not the issuer's own Client, must be enough.
func caClient(t *testing.T, is *Issuer) *http.Client {
	t.Helper()
	pemData, err := os.ReadFile(is.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemData) {
		t.Fatalf("%s holds no PEM certificate", is.CAFile())
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

func getJSON(t *testing.T, c *http.Client, url string, into any) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestDiscovery checks that the discovery document is what go-oidc and the OpenID Connect
// Discovery specification require, names this issuer, and is served over TLS that CAFile alone
// makes trusted.
func TestDiscovery(t *testing.T) {
	is := start(t)
	if !strings.HasPrefix(is.URL(), "https://127.0.0.1:") {
		t.Errorf("URL = %q, want https on loopback", is.URL())
	}
	var doc map[string]any
	getJSON(t, caClient(t, is), is.URL()+"/.well-known/openid-configuration", &doc)
	if doc["issuer"] != is.URL() || doc["jwks_uri"] != is.JWKSURL() {
		t.Errorf("discovery names issuer %v, jwks_uri %v; want %s, %s", doc["issuer"], doc["jwks_uri"], is.URL(), is.JWKSURL())
	}
	for _, field := range []string{"authorization_endpoint", "response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"} {
		if doc[field] == nil {
			t.Errorf("discovery lacks the required field %s: %v", field, doc)
		}
	}
	// go-oidc refuses a document whose issuer differs from the URL it was fetched from.
	p, err := oidc.NewProvider(oidc.ClientContext(t.Context(), caClient(t, is)), is.URL())
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || strings.Join(meta.Algs, ",") != "RS256,ES256,EdDSA" {
		t.Errorf("algorithms %v, %v", meta.Algs, err)
	}
	if d := is.DiscoveryHits(); d != 2 {
		t.Errorf("DiscoveryHits = %d after two fetches", d)
	}

	is.SetJWKSURI("http://elsewhere.example/keys")
	getJSON(t, is.Client(), is.URL()+"/.well-known/openid-configuration", &doc)
	if doc["jwks_uri"] != "http://elsewhere.example/keys" {
		t.Errorf("after SetJWKSURI, jwks_uri = %v", doc["jwks_uri"])
	}
	is.SetJWKSURI("")
	getJSON(t, is.Client(), is.URL()+"/.well-known/openid-configuration", &doc)
	if doc["jwks_uri"] != is.JWKSURL() {
		t.Errorf("after SetJWKSURI(\"\"), jwks_uri = %v", doc["jwks_uri"])
	}
}

// TestCertificateIsPerIssuer checks that the TLS certificate is trusted through CAFile only and
// belongs to one issuer: one shared test certificate would let anyone holding its (published)
// key impersonate every issuer trusted through it.
func TestCertificateIsPerIssuer(t *testing.T) {
	a, b := start(t), start(t)
	for name, c := range map[string]*http.Client{
		"system roots":          {},
		"the other issuer's CA": caClient(t, b),
	} {
		resp, err := c.Get(a.URL() + "/jwks")
		if err == nil {
			resp.Body.Close()
			t.Errorf("TLS with %s accepted: the certificate is not the issuer's own", name)
		} else if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("TLS with %s: %v, want a certificate error", name, err)
		}
	}
	if a.JWKSHits() != 0 {
		t.Errorf("a request over an untrusted connection was served")
	}
}

// TestTokensVerify mints a token with each key type and verifies it with go-oidc through
// discovery, and checks that tokens the issuer's published keys do not cover are refused.
func TestTokensVerify(t *testing.T) {
	is := start(t)
	for kid, alg := range map[string]jose.SignatureAlgorithm{"rsa": jose.RS256, "ec": jose.ES256, "ed": jose.EdDSA} {
		if err := is.AddKey(kid, alg, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := is.AddKey("hidden", jose.ES256, false); err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(t.Context(), caClient(t, is))
	p, err := oidc.NewProvider(ctx, is.URL())
	if err != nil {
		t.Fatal(err)
	}
	v := p.VerifierContext(ctx, &oidc.Config{ClientID: Audience, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}})
	now := time.Now()
	for _, kid := range []string{"rsa", "ec", "ed"} {
		c := is.Claims("ci-"+kid, now)
		tok, err := is.Sign(kid, c)
		if err != nil {
			t.Fatal(err)
		}
		id, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("%s: %v", kid, err)
		}
		if id.Subject != "ci-"+kid || id.Issuer != is.URL() || !id.Expiry.Equal(time.Unix(c["exp"].(int64), 0)) || id.Expiry.Sub(now) > 10*time.Minute {
			t.Errorf("%s: verified %+v", kid, id)
		}
	}
	if a, b := is.Claims("x", now)["jti"], is.Claims("x", now)["jti"]; a == b {
		t.Errorf("two tokens share the jti %v", a)
	}

	hidden, err := is.Sign("hidden", is.Claims("ci", now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, hidden); err == nil {
		t.Error("a token of an unpublished key verified")
	}
	rsaTok, err := is.Sign("rsa", is.Claims("ci", now))
	if err != nil {
		t.Fatal(err)
	}
	if err := is.Publish("ec", "ed", "hidden"); err != nil { // rotation: rsa withdrawn
		t.Fatal(err)
	}
	if got := len(is.JWKS().Keys); got != 3 {
		t.Errorf("JWKS has %d keys after publishing 3", got)
	}
	// A fresh verifier, so the key set is fetched after the rotation.
	v = p.VerifierContext(ctx, &oidc.Config{ClientID: Audience, SupportedSigningAlgs: []string{"RS256", "ES256", "EdDSA"}})
	if _, err := v.Verify(ctx, hidden); err != nil {
		t.Errorf("the newly published key: %v", err)
	}
	if _, err := v.Verify(ctx, rsaTok); err == nil {
		t.Error("a token of the withdrawn key verified")
	}
}

// TestBadInput checks that misuse is reported, not papered over.
func TestBadInput(t *testing.T) {
	is := start(t)
	if err := is.AddKey("k", jose.ES256, true); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"HS256 key":       is.AddKey("h", jose.HS256, true),
		"empty kid":       is.AddKey("", jose.ES256, true),
		"duplicate kid":   is.AddKey("k", jose.EdDSA, true),
		"publish unknown": is.Publish("k", "nope"),
	} {
		if err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := is.Sign("nope", is.Claims("ci", time.Now())); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Sign with an unknown kid: %v", err)
	}
	if is.Public("nope") != nil {
		t.Error("Public of an unknown kid is not nil")
	}
	if keys := is.JWKS().Keys; len(keys) != 1 || keys[0].KeyID != "k" {
		t.Errorf("a failed Publish changed the key set: %v", keys)
	}
}

// TestUnavailableAndOversized checks the outage switch on every endpoint and that the
// oversized key set really is larger than its documented size.
func TestUnavailableAndOversized(t *testing.T) {
	is := start(t)
	get := func(url string) (int, int) {
		t.Helper()
		resp, err := is.Client().Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, int(n)
	}
	urls := []string{is.URL() + "/.well-known/openid-configuration", is.JWKSURL(), is.OversizedJWKSURL()}
	is.SetUnavailable(true)
	for _, u := range urls {
		if code, _ := get(u); code != http.StatusServiceUnavailable {
			t.Errorf("unavailable: %s answered %d", u, code)
		}
	}
	is.SetUnavailable(false)
	for _, u := range urls {
		if code, _ := get(u); code != http.StatusOK {
			t.Errorf("available again: %s answered %d", u, code)
		}
	}
	if d, j := is.DiscoveryHits(), is.JWKSHits(); d != 2 || j != 4 {
		t.Errorf("hits: discovery %d, key set %d; want 2 and 4 (refused requests count)", d, j)
	}
	resp, err := is.Client().Get(is.OversizedJWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Errorf("the oversized key set is not a valid key set: %v", err)
	}
	if _, n := get(is.OversizedJWKSURL()); n <= oversizedPadding {
		t.Errorf("the oversized key set has %d bytes", n)
	}
}

// TestClose checks that Close stops serving, removes the temporary directory, leaves the keys
// usable, and can be called again.
func TestClose(t *testing.T) {
	is, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(is.CAFile())
	if !strings.HasPrefix(filepath.Base(dir), DirPrefix+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("temporary directory %s is not named %s<pid>-...", dir, DirPrefix)
	}
	if err := is.AddKey("k", jose.EdDSA, true); err != nil {
		t.Fatal(err)
	}
	c := is.Client()
	resp, err := c.Get(is.JWKSURL()) // leaves a kept-alive connection for Close to cut
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := is.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still exists after Close (%v)", dir, err)
	}
	if resp, err := c.Get(is.JWKSURL()); err == nil {
		resp.Body.Close()
		t.Error("the issuer still serves after Close")
	}
	if _, err := is.Sign("k", is.Claims("ci", time.Now())); err != nil || is.Public("k") == nil {
		t.Errorf("keys after Close: %v", err)
	}
	if err := is.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestConcurrentUse runs key changes, signing and fetches at once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	is := start(t)
	if err := is.AddKey("k0", jose.ES256, true); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		for i := 1; i < 20; i++ {
			kid := "k" + strconv.Itoa(i)
			if err := is.AddKey(kid, jose.ES256, i%2 == 0); err != nil {
				done <- err
				return
			}
			if _, err := is.Sign(kid, is.Claims("ci", time.Now())); err != nil {
				done <- err
				return
			}
			is.SetJWKSURI(is.JWKSURL())
		}
		done <- is.Publish("k0")
	}()
	var set jose.JSONWebKeySet
	for range 20 {
		getJSON(t, is.Client(), is.JWKSURL(), &set)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	getJSON(t, is.Client(), is.JWKSURL(), &set)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != "k0" {
		t.Errorf("key set after Publish(k0): %v", set.Keys)
	}
}
