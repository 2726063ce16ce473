package identity

import (
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice/internal/oidclocal"
)

// testIssuer is an oidclocal issuer bound to a test: errors fail the test, Close runs at
// cleanup, and config gives the IssuerConfig that trusts it.
type testIssuer struct {
	*oidclocal.Issuer
	t testing.TB
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	is, err := oidclocal.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := is.Close(); err != nil {
			t.Error(err)
		}
	})
	return &testIssuer{Issuer: is, t: t}
}

func (is *testIssuer) addKey(kid string, alg jose.SignatureAlgorithm, publish bool) {
	is.t.Helper()
	if err := is.AddKey(kid, alg, publish); err != nil {
		is.t.Fatal(err)
	}
}

func (is *testIssuer) publish(kids ...string) {
	is.t.Helper()
	if err := is.Publish(kids...); err != nil {
		is.t.Fatal(err)
	}
}

func (is *testIssuer) sign(kid string, claims map[string]any) string {
	is.t.Helper()
	tok, err := is.Sign(kid, claims)
	if err != nil {
		is.t.Fatal(err)
	}
	return tok
}

// hits is the number of requests the issuer served.
func (is *testIssuer) hits() int64 { return is.DiscoveryHits() + is.JWKSHits() }

// config returns an issuer configuration trusting this issuer through discovery, accepting
// audience "sluice" and binding any subject without "/" (glob "*").
func (is *testIssuer) config() IssuerConfig {
	return IssuerConfig{
		Issuer:    is.URL(),
		CAFile:    is.CAFile(),
		Audiences: []string{oidclocal.Audience},
		Bindings:  []Binding{{Claims: map[string][]string{"sub": {"*"}}, Glob: true}},
	}
}

// settle waits out go-oidc's RemoteKeySet bookkeeping after a key set fetch: it answers the
// waiting verification first and clears its finished fetch a moment later, and a verification
// arriving in between shares the finished fetch's result, just as concurrent ones share a
// running fetch. Real providers publish a key well before signing with it, so that never
// matters; a test that publishes a key and signs with it at once must let the fetch settle.
func settle() { time.Sleep(20 * time.Millisecond) }
