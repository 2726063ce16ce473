package oidclocal

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the "aud" Claims puts in tokens: the audience sluice's verifier expects.
const Audience = "sluice"

// tokenLife is how long tokens from Claims are valid.
const tokenLife = 10 * time.Minute

// signingKey is one of the issuer's keys with the algorithm it signs with.
type signingKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// supportedAlgorithms are the algorithms AddKey creates keys for, one per key family that
// providers use: RSA, ECDSA and Ed25519.
func supportedAlgorithms() []string {
	return []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}
}

// AddKey creates a new key under kid for alg (RS256, ES256 or EdDSA). publish adds it to the
// served key set at once; an unpublished key signs tokens a verifier cannot know, as an
// attacker's or a not yet rotated-in key would.
func (is *Issuer) AddKey(kid string, alg jose.SignatureAlgorithm, publish bool) error {
	if kid == "" {
		return fmt.Errorf("oidclocal: AddKey: empty kid")
	}
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return fmt.Errorf("oidclocal: AddKey %q: unsupported algorithm %q (supported: %v)", kid, alg, supportedAlgorithms())
	}
	if err != nil {
		return fmt.Errorf("oidclocal: AddKey %q: %w", kid, err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if _, dup := is.keys[kid]; dup {
		return fmt.Errorf("oidclocal: AddKey: kid %q already exists", kid)
	}
	is.keys[kid] = signingKey{alg: alg, priv: priv}
	if publish {
		is.published = append(is.published, kid)
	}
	return nil
}

// Publish replaces the served key set with the keys kids, in that order: a kid left out is
// withdrawn, as a provider does at the end of a rotation. Unknown kids are an error and leave
// the set unchanged.
func (is *Issuer) Publish(kids ...string) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, kid := range kids {
		if _, ok := is.keys[kid]; !ok {
			return fmt.Errorf("oidclocal: Publish: no key %q", kid)
		}
	}
	is.published = append([]string(nil), kids...)
	return nil
}

// JWKS returns the key set as currently served, for writing it to a file (a verifier's static
// keys, with no network) or comparing it with what a verifier fetched.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	is.mu.Lock()
	defer is.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, kid := range is.published {
		k := is.keys[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	return set
}

// Public returns the public key of kid, published or not, or nil if there is no such key: for
// configuring a verifier with static keys, or building attacks that misuse a public key.
func (is *Issuer) Public(kid string) crypto.PublicKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	k, ok := is.keys[kid]
	if !ok {
		return nil
	}
	return k.priv.Public()
}

// Claims returns the claims of a valid token for sub issued at now: this issuer, audience
// Audience, valid from now for ten minutes, with a unique jti. Callers edit the map before
// Sign to add claims or to make the token invalid in one specific way.
func (is *Issuer) Claims(sub string, now time.Time) map[string]any {
	return map[string]any{
		"iss": is.url,
		"sub": sub,
		"aud": []string{Audience},
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(tokenLife).Unix(),
		"jti": rand.Text(),
	}
}

// Sign returns a compact JWT of claims signed with kid's key, naming kid in the header as
// providers do, whether or not the key is published.
func (is *Issuer) Sign(kid string, claims map[string]any) (string, error) {
	is.mu.Lock()
	k, ok := is.keys[kid]
	is.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("oidclocal: Sign: no key %q", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("oidclocal: Sign with %q: %w", kid, err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("oidclocal: Sign with %q: %w", kid, err)
	}
	return tok, nil
}
