package identity

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// loadStaticKeys reads an issuer's public keys from a file, for air-gapped nodes that cannot
// reach the issuer: PEM "PUBLIC KEY" or "CERTIFICATE" blocks, a JWK set, or a single JWK.
// Private and symmetric keys are refused: a node needs only public keys, and a symmetric key
// would let whoever reads the file mint tokens.
func loadStaticKeys(file string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("keys_file: %w", err)
	}
	var keys []crypto.PublicKey
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("{")) {
		keys, err = jwkKeys(trimmed)
	} else {
		keys, err = pemKeys(trimmed)
	}
	if err != nil {
		return nil, fmt.Errorf("keys_file %s: %w", file, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keys_file %s: no public keys in it", file)
	}
	return keys, nil
}

// jwkKeys parses a JWK set ({"keys": [...]}) or a single JWK.
func jwkKeys(data []byte) ([]crypto.PublicKey, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, err
	}
	if len(set.Keys) == 0 {
		var k jose.JSONWebKey
		if err := json.Unmarshal(data, &k); err != nil {
			return nil, err
		}
		set.Keys = []jose.JSONWebKey{k}
	}
	var out []crypto.PublicKey
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %q is not a public key (a private or symmetric key does not belong on a node)", k.KeyID)
		}
		if err := checkPublic(k.Key); err != nil {
			return nil, fmt.Errorf("key %q: %w", k.KeyID, err)
		}
		out = append(out, k.Key)
	}
	return out, nil
}

// pemKeys parses PEM "PUBLIC KEY" and "CERTIFICATE" blocks.
func pemKeys(data []byte) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for len(bytes.TrimSpace(data)) > 0 {
		block, rest := pem.Decode(data)
		if block == nil {
			return nil, errors.New("neither a JWK set nor PEM")
		}
		data = rest
		var key crypto.PublicKey
		switch block.Type {
		case "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			key = k
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, err
			}
			key = c.PublicKey
		default:
			return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY or CERTIFICATE (a private key does not belong on a node)", block.Type)
		}
		if err := checkPublic(key); err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, nil
}

// checkPublic accepts the key types go-oidc's StaticKeySet verifies with.
func checkPublic(k crypto.PublicKey) error {
	switch k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("unsupported key type %T", k)
}
