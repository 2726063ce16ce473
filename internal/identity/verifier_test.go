package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

func newVerifier(t testing.TB, cfgs ...IssuerConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(Config{Issuers: cfgs})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestVerifyValid verifies a token signed with each key type, discovered over TLS.
func TestVerifyValid(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	is.addKey("ec", jose.ES256, true)
	is.addKey("ed", jose.EdDSA, true)
	cfg := is.config()
	cfg.GroupsClaim = "groups"
	cfg.Claims = []string{"repository"}
	v := newVerifier(t, cfg)
	if is.hits() != 0 {
		t.Errorf("NewVerifier made %d requests; discovery should wait for the first token", is.hits())
	}
	for _, kid := range []string{"rsa", "ec", "ed"} {
		t.Run(kid, func(t *testing.T) {
			c := is.Claims("ci-"+kid, time.Now())
			c["groups"] = []string{"deploy", "ci"}
			c["repository"] = "octo/app"
			id, err := v.Verify(context.Background(), is.sign(kid, c))
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{
				Issuer:  is.URL(),
				Subject: "ci-" + kid,
				Groups:  []string{"ci", "deploy"},
				Claims:  map[string]any{"sub": "ci-" + kid, "repository": "octo/app"},
				Expiry:  time.Unix(c["exp"].(int64), 0),
				TokenID: c["jti"].(string),
			}
			if fmt.Sprint(id) != fmt.Sprint(want) || !id.Expiry.Equal(want.Expiry) {
				t.Errorf("Verify =\n %+v\nwant\n %+v", id, want)
			}
		})
	}
	if d := is.DiscoveryHits(); d != 1 {
		t.Errorf("discovery fetched %d times, want once", d)
	}
}

// TestVerifyRefuses tries every way to get a bad token accepted.
func TestVerifyRefuses(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	is.addKey("ec", jose.ES256, true)
	is.addKey("unpublished", jose.RS256, false)
	other := newTestIssuer(t)
	other.addKey("other", jose.ES256, true)
	v := newVerifier(t, is.config(), other.config())
	now := time.Now()
	with := func(kid string, edit func(map[string]any)) string {
		c := is.Claims("ci", now)
		edit(c)
		return is.sign(kid, c)
	}
	// A valid token first, so every refusal below happens with the keys cached.
	valid := with("rsa", func(map[string]any) {})
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatal(err)
	}

	parts := strings.Split(valid, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(payload), `"sub":"ci"`, `"sub":"admin"`, 1)
	if tampered == string(payload) {
		t.Fatal("test bug: payload has no sub to tamper with")
	}
	none := b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	// The classic confusion attack: HS256 keyed with the RSA public key everyone can fetch.
	pubDER, err := x509.MarshalPKIXPublicKey(is.Public("rsa"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hsInput := b64([]byte(`{"alg":"HS256","kid":"rsa","typ":"JWT"}`)) + "." + parts[1]
	mac := hmac.New(sha256.New, pubPEM)
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + b64(mac.Sum(nil))

	tests := []struct {
		name, token, err string
	}{
		{"expired", with("rsa", func(c map[string]any) { c["exp"] = now.Add(-5 * time.Minute).Unix() }), "token expired"},
		{"not yet valid", with("rsa", func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }), "not valid yet"},
		{"issued in the future", with("rsa", func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }), "issued in the future"},
		{"no expiry", with("rsa", func(c map[string]any) { delete(c, "exp") }), "no expiry"},
		{"no subject", with("rsa", func(c map[string]any) { delete(c, "sub") }), "no subject"},
		{"unknown issuer", with("rsa", func(c map[string]any) { c["iss"] = "https://evil.example" }), "not trusted"},
		{"issuer of another trusted provider", with("rsa", func(c map[string]any) { c["iss"] = other.URL() }), "failed to verify signature"},
		{"wrong audience", with("rsa", func(c map[string]any) { c["aud"] = "kubernetes" }), "includes none of"},
		{"no audience", with("rsa", func(c map[string]any) { delete(c, "aud") }), "includes none of"},
		{"alg none", none, "not a JWT signed with an allowed algorithm"},
		{"HS256 keyed with the public key", hs256, "not a JWT signed with an allowed algorithm"},
		{"tampered payload", parts[0] + "." + b64([]byte(tampered)) + "." + parts[2], "failed to verify signature"},
		{"unknown kid", with("unpublished", func(map[string]any) {}), "failed to verify signature"},
		{"signature of another key under a known kid", strings.Join(append(strings.Split(with("unpublished", func(map[string]any) {}), ".")[:2], parts[2]), "."), "failed to verify signature"},
		{"matches no binding", with("rsa", func(c map[string]any) { c["sub"] = "a/b" }), "matches no binding"},
		{"not a JWT", "hello", "not a JWT"},
		{"oversized", strings.Repeat("a", maxTokenSize+1), "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Verify = %+v, %v; want an error containing %q", id, err, tt.err)
			}
		})
	}
	if _, err := v.Verify(context.Background(), with("rsa", func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v, want ErrExpired", err)
	}
}

// TestAlgorithmAllowlist refuses a validly signed token whose algorithm the issuer does not
// allow, and a configuration that allows none or HMAC.
func TestAlgorithmAllowlist(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	is.addKey("ec", jose.ES256, true)
	cfg := is.config()
	cfg.Algorithms = []string{"ES256"}
	v := newVerifier(t, cfg)
	if _, err := v.Verify(context.Background(), is.sign("ec", is.Claims("ci", time.Now()))); err != nil {
		t.Fatalf("ES256 token: %v", err)
	}
	if _, err := v.Verify(context.Background(), is.sign("rsa", is.Claims("ci", time.Now()))); err == nil {
		t.Fatal("an RS256 token verified although only ES256 is allowed")
	}
	for _, alg := range []string{"none", "HS256", "HS512", "rs256"} {
		cfg.Algorithms = []string{alg}
		if _, err := NewVerifier(Config{Issuers: []IssuerConfig{cfg}}); err == nil || !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("algorithms [%s]: %v, want a configuration error", alg, err)
		}
	}
}

// TestLeeway checks that the configured leeway, and only it, excuses clock skew.
func TestLeeway(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("ed", jose.EdDSA, true)
	strict := newVerifier(t, is.config())
	cfg := is.config()
	cfg.Leeway = time.Minute
	lenient := newVerifier(t, cfg)
	now := time.Now()
	late := is.Claims("ci", now)
	late["exp"] = now.Add(-20 * time.Second).Unix()
	early := is.Claims("ci", now)
	early["nbf"] = now.Add(20 * time.Second).Unix()
	for name, c := range map[string]map[string]any{"expired 20s ago": late, "valid in 20s": early} {
		tok := is.sign("ed", c)
		if _, err := strict.Verify(context.Background(), tok); err == nil {
			t.Errorf("%s: accepted without leeway", name)
		}
		if _, err := lenient.Verify(context.Background(), tok); err != nil {
			t.Errorf("%s: refused with a minute of leeway: %v", name, err)
		}
	}
	way := is.Claims("ci", now)
	way["exp"] = now.Add(-2 * time.Minute).Unix()
	if _, err := lenient.Verify(context.Background(), is.sign("ed", way)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired 2m ago with 1m leeway: %v, want ErrExpired", err)
	}
}

// TestKeyRotation checks that a key the issuer adds is picked up on its first token, and that
// a key it withdraws stops verifying once the set was refetched.
func TestKeyRotation(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("old", jose.RS256, true)
	cfg := is.config()
	cfg.JWKSRefetch.Burst = 10
	v := newVerifier(t, cfg)
	ctx := context.Background()
	oldTok := is.sign("old", is.Claims("ci", time.Now()))
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatal(err)
	}
	settle()
	is.addKey("new", jose.ES256, true)
	if _, err := v.Verify(ctx, is.sign("new", is.Claims("ci", time.Now()))); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if n := is.JWKSHits(); n != 2 {
		t.Errorf("%d key set fetches, want 2 (initial, rotation)", n)
	}
	settle()
	is.addKey("newer", jose.EdDSA, false)
	is.publish("new", "newer") // "old" withdrawn
	if _, err := v.Verify(ctx, is.sign("newer", is.Claims("ci", time.Now()))); err != nil {
		t.Fatalf("token of the second rotation: %v", err)
	}
	settle()
	if _, err := v.Verify(ctx, oldTok); err == nil {
		t.Error("a token of the withdrawn key still verifies after the key set was refetched")
	}
}

// TestIssuerDown checks that cached keys keep verifying while the issuer is unreachable and
// that an unknown kid then fails closed.
func TestIssuerDown(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	is.addKey("later", jose.RS256, false)
	v := newVerifier(t, is.config())
	ctx := context.Background()
	if _, err := v.Verify(ctx, is.sign("rsa", is.Claims("ci", time.Now()))); err != nil {
		t.Fatal(err)
	}
	if err := is.Close(); err != nil { // the provider goes away
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, is.sign("rsa", is.Claims("ci-2", time.Now()))); err != nil {
		t.Errorf("cached key during the outage: %v", err)
	}
	_, err := v.Verify(ctx, is.sign("later", is.Claims("ci", time.Now())))
	if err == nil || !strings.Contains(err.Error(), "fetching keys") {
		t.Errorf("unknown kid during the outage: %v, want a refusal after a failed fetch", err)
	}
	if _, err := v.Verify(ctx, is.sign("rsa", is.Claims("ci-3", time.Now()))); err != nil {
		t.Errorf("cached key after a failed refetch: %v", err)
	}
}

// TestRefetchFlood sends many tokens with unknown kids (and tampered ones, which go-oidc also
// answers with a refetch) at once: the issuer must see at most the configured burst of
// requests, and the cached keys must keep working.
func TestRefetchFlood(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	cfg := is.config()
	cfg.JWKSRefetch = RefetchLimit{Interval: time.Hour, Burst: 4}
	v := newVerifier(t, cfg)
	ctx := context.Background()
	good := is.sign("rsa", is.Claims("ci", time.Now()))
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	before := is.hits() // discovery + the first key set
	// Waves of concurrent tokens: concurrent refetches are merged by go-oidc, consecutive ones
	// are not.
	const waves, perWave = 30, 10
	const flood = waves * perWave
	var mu sync.Mutex
	accepted := 0
	for w := range waves {
		var wg sync.WaitGroup
		for j := range perWave {
			i := w*perWave + j
			kid := fmt.Sprintf("forged-%d", i)
			is.addKey(kid, jose.ES256, false)
			tok := is.sign(kid, is.Claims("ci", time.Now()))
			if i%3 == 0 { // a known kid with a tampered payload
				p := strings.Split(good, ".")
				p[1] = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"iss":%q,"sub":"x%d","aud":"sluice","exp":%d}`, is.URL(), i, time.Now().Add(time.Hour).Unix()))
				tok = strings.Join(p, ".")
			}
			wg.Go(func() {
				if _, err := v.Verify(ctx, tok); err == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	if accepted != 0 {
		t.Errorf("%d forged tokens accepted", accepted)
	}
	total := is.hits()
	t.Logf("requests at the issuer: %d before the flood, %d after %d forged tokens (burst %d)", before, total, flood, cfg.JWKSRefetch.Burst)
	if total > int64(cfg.JWKSRefetch.Burst) {
		t.Errorf("the issuer served %d requests; the limit allows %d", total, cfg.JWKSRefetch.Burst)
	}
	if total == before {
		t.Error("the flood made no fetch at all: the test did not reach the rate limiter")
	}
	if _, err := v.Verify(ctx, is.sign("rsa", is.Claims("ci-after", time.Now()))); err != nil {
		t.Errorf("the cached key after the flood: %v", err)
	}
	// With the budget spent, even a genuinely rotated key fails closed until it refills.
	settle()
	is.addKey("rotated", jose.RS256, true)
	if _, err := v.Verify(ctx, is.sign("rotated", is.Claims("ci", time.Now()))); err == nil || !strings.Contains(err.Error(), ErrFetchLimited.Error()) {
		t.Errorf("rotated key with the budget spent: %v, want a rate-limit refusal", err)
	}
	if is.hits() != total {
		t.Errorf("a refused fetch reached the issuer")
	}
}

// TestRemoteKeySetRefetchesEveryUnknownKid records the go-oidc behaviour the refetch limit
// exists for: a bare RemoteKeySet fetches the key set once per token with an unknown kid. If a
// go-oidc upgrade changes this, revisit limitedTransport.
func TestRemoteKeySetRefetchesEveryUnknownKid(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	ctx := oidc.ClientContext(context.Background(), is.Client())
	v := oidc.NewVerifier(is.URL(), oidc.NewRemoteKeySet(ctx, is.JWKSURL()), &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{"ES256"}})
	const n = 10
	for i := range n {
		kid := fmt.Sprintf("unknown-%d", i)
		is.addKey(kid, jose.ES256, false)
		if _, err := v.Verify(ctx, is.sign(kid, is.Claims("ci", time.Now()))); err == nil {
			t.Fatal("unknown kid verified")
		}
		settle() // so each token starts a fetch of its own

	}
	if got := is.JWKSHits(); got != n {
		t.Errorf("bare RemoteKeySet fetched %d times for %d unknown kids", got, n)
	}
}

// TestExplicitJWKSURL skips discovery when the key set URL is configured.
func TestExplicitJWKSURL(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("ec", jose.ES256, true)
	cfg := is.config()
	cfg.JWKSURL = is.JWKSURL()
	v := newVerifier(t, cfg)
	if _, err := v.Verify(context.Background(), is.sign("ec", is.Claims("ci", time.Now()))); err != nil {
		t.Fatal(err)
	}
	if d, j := is.DiscoveryHits(), is.JWKSHits(); d != 0 || j != 1 {
		t.Errorf("discovery %d, key set %d requests; want 0 and 1", d, j)
	}
}

// TestUntrustedCertificate refuses a provider whose TLS certificate does not chain to the
// configured roots: the keys would be whatever a machine in the middle served.
func TestUntrustedCertificate(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("ec", jose.ES256, true)
	cfg := is.config()
	cfg.CAFile = ""
	v := newVerifier(t, cfg)
	if _, err := v.Verify(context.Background(), is.sign("ec", is.Claims("ci", time.Now()))); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Verify against an untrusted certificate: %v", err)
	}
}

// TestStaticKeys verifies with keys from a file (PEM and JWK set) and no network at all.
func TestStaticKeys(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("rsa", jose.RS256, true)
	is.addKey("ed", jose.EdDSA, true)
	is.addKey("stranger", jose.ES256, false)
	if err := is.Close(); err != nil { // air-gapped: nothing to fetch from
		t.Fatal(err)
	}
	dir := t.TempDir()
	var pemData []byte
	for _, kid := range []string{"rsa", "ed"} {
		der, err := x509.MarshalPKIXPublicKey(is.Public(kid))
		if err != nil {
			t.Fatal(err)
		}
		pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	jwks, err := json.Marshal(is.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"keys.pem": pemData, "keys.jwks": jwks}
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(dir, name)
			if err := os.WriteFile(f, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := is.config()
			cfg.CAFile, cfg.KeysFile = "", f
			v := newVerifier(t, cfg)
			for _, kid := range []string{"rsa", "ed"} {
				if _, err := v.Verify(context.Background(), is.sign(kid, is.Claims("ci", time.Now()))); err != nil {
					t.Errorf("%s: %v", kid, err)
				}
			}
			if _, err := v.Verify(context.Background(), is.sign("stranger", is.Claims("ci", time.Now()))); err == nil {
				t.Error("a key not in the file verified")
			}
		})
	}
	// Private keys of any kind must be refused; these are fresh, as the issuer never hands its own out.
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privJWK, err := json.Marshal(jose.JSONWebKey{Key: ecPriv, KeyID: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	secretJWK, err := json.Marshal(jose.JSONWebKey{Key: []byte("shared-secret-0123456789abcdef"), KeyID: "hs", Algorithm: "HS256"})
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(edPriv)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"private JWK":   privJWK,
		"symmetric JWK": secretJWK,
		"private PEM":   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		"empty":         nil,
		"garbage":       []byte("not a key"),
	} {
		f := filepath.Join(dir, "bad")
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := is.config()
		cfg.CAFile, cfg.KeysFile = "", f
		if _, err := NewVerifier(Config{Issuers: []IssuerConfig{cfg}}); err == nil {
			t.Errorf("keys_file with %s accepted", name)
		}
	}
}

// TestDiscoveryRetried checks that an agent started during a provider outage refuses that
// provider's tokens, then accepts them once discovery succeeds.
func TestDiscoveryRetried(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("ec", jose.ES256, true)
	is.SetUnavailable(true)
	v := newVerifier(t, is.config())
	tok := is.sign("ec", is.Claims("ci", time.Now()))
	if _, err := v.Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "discovery") {
		t.Fatalf("provider down: %v, want a discovery error", err)
	}
	is.SetUnavailable(false)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("provider back: %v", err)
	}
}

// TestProviderResponses refuses key sets the agent must not use or hold: one named with a
// plain http URL, and one larger than maxProviderResponse.
func TestProviderResponses(t *testing.T) {
	is := newTestIssuer(t)
	is.addKey("ec", jose.ES256, true)
	is.SetJWKSURI(strings.Replace(is.JWKSURL(), "https://", "http://", 1))
	tok := is.sign("ec", is.Claims("ci", time.Now()))
	if _, err := newVerifier(t, is.config()).Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "https only") {
		t.Errorf("jwks_uri over http: %v", err)
	}
	if n := is.JWKSHits(); n != 0 {
		t.Errorf("the http key set was fetched %d times", n)
	}
	cfg := is.config()
	cfg.JWKSURL = is.OversizedJWKSURL()
	if _, err := newVerifier(t, cfg).Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("oversized key set: %v", err)
	}
}
