package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// maxTokenSize bounds the tokens Verify parses. Real workload tokens are a few kilobytes.
const maxTokenSize = 64 << 10

// Errors Verify wraps, for callers that react to the kind of failure.
var (
	// ErrUnknownIssuer means the token's issuer is not configured.
	ErrUnknownIssuer = errors.New("token issuer is not trusted")
	// ErrExpired means the token (or the identity verified from it) is past its expiry.
	ErrExpired = errors.New("token expired")
)

// Verifier verifies workload tokens against the configured issuers and maps them to
// identities. Signature, algorithm and issuer checks are go-oidc's; time and audience checks
// are go-jose's, because go-oidc's expiry check has no leeway setting. It is safe for
// concurrent use.
type Verifier struct {
	issuers map[string]*issuer
	// algs is the union of the issuers' allowlists, used to parse a token before its issuer
	// (and so its own allowlist) is known.
	algs []jose.SignatureAlgorithm
	// now is the clock every expiry decision uses; tests replace it.
	now func() time.Time
}

// issuer is one trusted provider and the go-oidc verifier for its tokens.
type issuer struct {
	cfg IssuerConfig
	// client makes the issuer's requests (discovery, key sets); nil with static keys.
	client *http.Client
	// oidcConfig is what go-oidc checks: the algorithm allowlist (and signature and issuer).
	oidcConfig *oidc.Config
	mu         sync.Mutex
	// verifier is nil until discovery succeeds; see oidcVerifier.
	verifier *oidc.IDTokenVerifier
}

// NewVerifier checks cfg and prepares a verifier for its issuers. It makes no network request:
// discovery happens on the first token of an issuer and is retried on later tokens until it
// succeeds, so an agent that starts while a provider is down still starts, and refuses (fails
// closed) only that provider's tokens until it is back.
func NewVerifier(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{issuers: map[string]*issuer{}, now: time.Now}
	for _, ic := range cfg.Issuers {
		ic = withDefaults(ic)
		is := &issuer{cfg: ic, oidcConfig: &oidc.Config{
			SupportedSigningAlgs: ic.Algorithms,
			// Audience and time are checked by checkClaims, with the configured audiences and
			// leeway; go-oidc knows one audience and a fixed leeway only.
			SkipClientIDCheck: true,
			SkipExpiryCheck:   true,
		}}
		switch {
		case ic.KeysFile != "":
			keys, err := loadStaticKeys(ic.KeysFile)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Issuer, err)
			}
			is.verifier = oidc.NewVerifier(ic.Issuer, &oidc.StaticKeySet{PublicKeys: keys}, is.oidcConfig)
		default:
			client, err := newHTTPClient(&ic)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", ic.Issuer, err)
			}
			is.client = client
			if ic.JWKSURL != "" {
				is.verifier = oidc.NewVerifier(ic.Issuer, oidc.NewRemoteKeySet(is.clientContext(context.Background()), ic.JWKSURL), is.oidcConfig)
			}
		}
		v.issuers[ic.Issuer] = is
		for _, a := range ic.Algorithms {
			if alg := jose.SignatureAlgorithm(a); !slices.Contains(v.algs, alg) {
				v.algs = append(v.algs, alg)
			}
		}
	}
	return v, nil
}

// withDefaults fills the zero values of an issuer's configuration.
func withDefaults(ic IssuerConfig) IssuerConfig {
	if len(ic.Algorithms) == 0 {
		ic.Algorithms = asymmetricAlgs
	}
	if ic.JWKSRefetch.Interval == 0 {
		ic.JWKSRefetch.Interval = DefaultRefetchInterval
	}
	if ic.JWKSRefetch.Burst == 0 {
		ic.JWKSRefetch.Burst = DefaultRefetchBurst
	}
	if ic.HTTPTimeout == 0 {
		ic.HTTPTimeout = DefaultHTTPTimeout
	}
	return ic
}

// Verify checks a token and returns the identity it proves: signed by a configured issuer's
// key with an allowed algorithm, for one of its audiences, within its validity (with the
// issuer's leeway), and matching one of its bindings. Any failure is an error; nothing is
// accepted on a failed or impossible check.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	id, _, err := v.verify(ctx, token)
	return id, err
}

// verify is Verify also returning the verified claims, for sources that check claims of
// their own (the pod UID of a Kubernetes token).
func (v *Verifier) verify(ctx context.Context, token string) (Identity, claims, error) {
	token = strings.TrimSpace(token)
	if len(token) > maxTokenSize {
		return Identity{}, nil, fmt.Errorf("token is %d bytes, more than the %d allowed", len(token), maxTokenSize)
	}
	parsed, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("not a JWT signed with an allowed algorithm: %w", err)
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := parsed.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return Identity{}, nil, fmt.Errorf("token claims: %w", err)
	}
	is, ok := v.issuers[unverified.Issuer]
	if !ok {
		return Identity{}, nil, fmt.Errorf("%w: %q", ErrUnknownIssuer, unverified.Issuer)
	}
	ov, err := is.oidcVerifier(ctx)
	if err != nil {
		return Identity{}, nil, err
	}
	tok, err := ov.Verify(ctx, token)
	if err != nil {
		return Identity{}, nil, fmt.Errorf("issuer %s: %w", is.cfg.Issuer, err)
	}
	var payload json.RawMessage
	if err := tok.Claims(&payload); err != nil {
		return Identity{}, nil, err
	}
	std, err := is.checkClaims(payload, v.now())
	if err != nil {
		return Identity{}, nil, err
	}
	c, err := decodeClaims(payload)
	if err != nil {
		return Identity{}, nil, err
	}
	id, err := is.cfg.identity(c, std.Subject, std.ID, std.Expiry.Time(), token)
	return id, c, err
}

// checkClaims checks the registered claims go-oidc was told to skip: a subject and an expiry
// must be present (a token without exp would never end), the audience must include a configured
// one, and exp, nbf and iat must hold at now with the issuer's leeway.
func (is *issuer) checkClaims(payload []byte, now time.Time) (jwt.Claims, error) {
	var std jwt.Claims
	if err := json.Unmarshal(payload, &std); err != nil {
		return jwt.Claims{}, fmt.Errorf("token claims: %w", err)
	}
	switch {
	case std.Subject == "":
		return jwt.Claims{}, fmt.Errorf("issuer %s: token has no subject", is.cfg.Issuer)
	case std.Expiry == nil:
		return jwt.Claims{}, fmt.Errorf("issuer %s: token has no expiry", is.cfg.Issuer)
	}
	err := std.ValidateWithLeeway(jwt.Expected{AnyAudience: is.cfg.Audiences, Time: now}, is.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return jwt.Claims{}, fmt.Errorf("issuer %s: %w at %s", is.cfg.Issuer, ErrExpired, std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrInvalidAudience):
		return jwt.Claims{}, fmt.Errorf("issuer %s: token audience %q includes none of %q", is.cfg.Issuer, []string(std.Audience), is.cfg.Audiences)
	case err != nil:
		return jwt.Claims{}, fmt.Errorf("issuer %s: %w", is.cfg.Issuer, err)
	}
	return std, nil
}

// oidcVerifier returns the issuer's go-oidc verifier, running discovery first if it has not
// succeeded yet. Discovery spends the issuer's refetch budget like key fetches do, so a flood
// of tokens during an outage cannot turn into a flood of discovery requests.
func (is *issuer) oidcVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, nil
	}
	p, err := oidc.NewProvider(is.clientContext(ctx), is.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer %s: discovery: %w", is.cfg.Issuer, err)
	}
	// The key set outlives this call: its requests use the issuer's client, not ctx.
	is.verifier = p.VerifierContext(is.clientContext(context.Background()), is.oidcConfig)
	return is.verifier, nil
}

// clientContext makes go-oidc use the issuer's rate-limited client.
func (is *issuer) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, is.client)
}

// checkValid reports whether an identity verified earlier is still within its grant: its
// expiry plus its issuer's leeway, the same rule verification applied.
func (v *Verifier) checkValid(id Identity) error {
	var leeway time.Duration
	if is, ok := v.issuers[id.Issuer]; ok {
		leeway = is.cfg.Leeway
	}
	if v.now().Add(-leeway).After(id.Expiry) {
		return fmt.Errorf("identity %s from %s: %w at %s", id.Subject, id.Issuer, ErrExpired, id.Expiry.UTC().Format(time.RFC3339))
	}
	return nil
}
