package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Keys are stored in the formats OpenSSL uses (`openssl genpkey -algorithm ed25519` and
// `openssl pkey -pubout`), so operators can create and inspect them with standard tools.
const (
	pemPrivate = "PRIVATE KEY" // PKCS #8
	pemPublic  = "PUBLIC KEY"  // PKIX
)

// LoadPrivateKey reads the checkpoint signing key from a PEM PKCS #8 file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, pemPrivate)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("audit key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("audit key %s holds a %T, not an ed25519 key", path, k)
	}
	return ek, nil
}

// LoadPublicKey reads a checkpoint verification key from a PEM PKIX file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, pemPublic)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("audit public key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("audit public key %s holds a %T, not an ed25519 key", path, k)
	}
	return ek, nil
}

// WriteKeyPair generates a signing key and writes it to privPath (mode 0600) and its public
// half to pubPath. It refuses to overwrite either file: replacing a log's key by accident
// would make its later checkpoints unverifiable with the published public key.
func WriteKeyPair(privPath, pubPath string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	if err := writeNewPEM(privPath, pemPrivate, privDER, 0o600); err != nil {
		return err
	}
	if err := writeNewPEM(pubPath, pemPublic, pubDER, 0o644); err != nil {
		_ = os.Remove(privPath) // half a key pair is no use
		return err
	}
	return nil
}

// KeyID names a public key by the first 8 bytes of its SHA-256, in hex. Checkpoints carry
// it so a verifier holding several keys picks the right one.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func readPEM(path, want string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("audit key %s: no PEM block found", path)
	case block.Type == pemPrivate && want == pemPublic:
		return nil, fmt.Errorf("audit key %s is a private key; verification needs the public key", path)
	case block.Type != want:
		return nil, fmt.Errorf("audit key %s: PEM block is %q, want %q", path, block.Type, want)
	}
	return block.Bytes, nil
}

func writeNewPEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(err, os.Remove(path))
	}
	return nil
}
