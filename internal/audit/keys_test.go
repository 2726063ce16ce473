package audit

import (
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Keys made by OpenSSL load, and sign checkpoints that verify with OpenSSL's public key.
func TestOpenSSLKeys(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is needed to check key-format compatibility: apt-get install openssl")
	}
	dir := t.TempDir()
	priv, pubPath := filepath.Join(dir, "k.pem"), filepath.Join(dir, "k.pub")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", priv},
		{"pkey", "-in", priv, "-pubout", "-out", pubPath},
	} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	key, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "log")
	l := openLog(t, logDir, key, nil)
	mustAppend(t, l, stmt("s", 1, "SELECT 1"))
	mustClose(t, l)
	rep, err := Verify([]string{logDir}, VerifyOptions{PublicKeys: []ed25519.PublicKey{pk}})
	if err != nil || rep.Problem != nil {
		t.Fatalf("verify with the OpenSSL public key: %v %v", err, rep.Problem)
	}
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	priv, pubPath := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	if err := WriteKeyPair(priv, pubPath); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(priv); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode = %v (%v), want 0600", st.Mode(), err)
	}
	if err := WriteKeyPair(priv, filepath.Join(dir, "other.pub")); err == nil {
		t.Error("WriteKeyPair overwrote an existing key")
	}
	if _, err := LoadPublicKey(priv); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Errorf("LoadPublicKey(private key file) = %v, want an error naming the mix-up", err)
	}
	if _, err := LoadPrivateKey(pubPath); err == nil {
		t.Error("LoadPrivateKey accepted a public key")
	}
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	if _, err := LoadPrivateKey(junk); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("LoadPrivateKey(junk) = %v", err)
	}
}
