package selfsigned

import (
	"crypto/x509"
	"testing"
	"time"
)

func TestCertificateVerifiesForLoopback(t *testing.T) {
	a, err := Certificate("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Certificate("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.Leaf)
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := a.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := b.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "localhost"}); err == nil {
		t.Error("a second certificate verified against the first one's root: keys are shared")
	}
	if a.Leaf.NotAfter.After(time.Now().Add(time.Hour + time.Minute)) {
		t.Errorf("NotAfter %v beyond the requested lifetime", a.Leaf.NotAfter)
	}
}
