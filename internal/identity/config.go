package identity

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// Config is the identity section of the agent's configuration: which issuers are trusted, how
// their claims map to policy subjects, and where tokens for cgroups come from besides
// enrollment. It holds plain values with yaml tags; the agent decodes it strictly.
type Config struct {
	// Issuers are the identity providers whose tokens are accepted. A token from any other
	// issuer is refused.
	Issuers []IssuerConfig `yaml:"issuers"`
	// Kubernetes binds pods to their projected service-account tokens; nil disables it.
	Kubernetes *KubernetesConfig `yaml:"kubernetes"`
	// Static binds cgroup path patterns to token files, for systemd services and other
	// long-lived workloads that nobody enrolls.
	Static []StaticConfig `yaml:"static"`
	// FileRecheck is how often a token file is checked for a new token (kubelet rotation, an
	// operator replacing it). Zero means DefaultFileRecheck. A file is also rechecked as soon as
	// its token has expired, so a rotated token is picked up without waiting.
	FileRecheck time.Duration `yaml:"file_recheck"`
	// EnrollmentsFile keeps enrollments across agent restarts (a CI job's hook enrolled it
	// once; the agent restarting mid-job must not orphan the job). It holds the verified
	// identities only, never the tokens, and is written root-only. Empty: enrollments live
	// in memory only.
	EnrollmentsFile string `yaml:"enrollments_file"`
}

// IssuerConfig describes one trusted identity provider. Keys come from exactly one place:
// OpenID discovery at Issuer (the default), an explicit JWKSURL (providers without discovery,
// or to skip a round trip), or KeysFile (air-gapped nodes that can reach no provider).
type IssuerConfig struct {
	// Issuer is the provider's issuer identifier; a token's "iss" must equal it exactly.
	Issuer string `yaml:"issuer"`
	// JWKSURL is the provider's key set URL, used instead of discovery.
	JWKSURL string `yaml:"jwks_url"`
	// KeysFile holds the provider's public keys: PEM ("PUBLIC KEY" blocks) or a JWK set.
	KeysFile string `yaml:"keys_file"`
	// CAFile holds the PEM certificates that alone are trusted for the provider's TLS
	// server certificate; empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// Audiences lists the audiences accepted; a token's "aud" must contain at least one.
	// It is required: a token minted for another relying party must not work here.
	Audiences []string `yaml:"audiences"`
	// Algorithms is the allowlist of signing algorithms; empty means every asymmetric
	// algorithm go-oidc supports. "none" and the HMAC algorithms are refused: with them the
	// verification key would also be a signing key, so anyone who holds the public key (for
	// HS256 signed "with" an RSA public key) could mint tokens.
	Algorithms []string `yaml:"algorithms"`
	// Leeway is the clock skew tolerated on exp, nbf and iat, at most MaxLeeway.
	Leeway time.Duration `yaml:"leeway"`
	// JWKSRefetch limits requests to the provider (discovery and key set fetches). Keys are
	// refetched when a token names an unknown key id, so without a limit every forged token
	// would make the agent hit the provider.
	JWKSRefetch RefetchLimit `yaml:"jwks_refetch"`
	// HTTPTimeout bounds each request to the provider; zero means DefaultHTTPTimeout.
	HTTPTimeout time.Duration `yaml:"http_timeout"`
	// GroupsClaim names the claim holding the workload's groups (a string or a list of
	// strings); empty means the provider's groups are not used. A name starting with "/" is a
	// JSON pointer into nested claims, e.g. "/realm_access/roles".
	GroupsClaim string `yaml:"groups_claim"`
	// Claims lists the claims copied into Identity.Claims for policy and audit, besides
	// "sub" and every claim a matching binding checked.
	Claims []string `yaml:"claims"`
	// Bindings decide which of the provider's tokens are accepted and as whom. At least one
	// is required: many providers (GitHub Actions, GitLab) mint tokens for anyone on the
	// platform, so accepting every token they sign would let any repository in the world in.
	Bindings []Binding `yaml:"bindings"`
}

// RefetchLimit is a token bucket for requests to a provider: Burst requests at once, then one
// per Interval.
type RefetchLimit struct {
	// Interval is the time between refills; zero means DefaultRefetchInterval.
	Interval time.Duration `yaml:"interval"`
	// Burst is the bucket size; zero means DefaultRefetchBurst.
	Burst int `yaml:"burst"`
}

// Binding maps tokens to a policy subject and groups. A token matches when every key of
// Claims is present in it with one of the listed values. Bind immutable claims
// (repository_id, project_id, the pod UID) rather than names: see the package documentation.
type Binding struct {
	// Subject is the policy subject of matching tokens; empty keeps the token's "sub".
	Subject string `yaml:"subject"`
	// Groups are added to the identity's groups.
	Groups []string `yaml:"groups"`
	// Claims are the bound claims: claim name (or JSON pointer, "/kubernetes.io/pod/uid") to
	// the accepted values. A list claim matches when any element is accepted; numbers and
	// booleans are compared in their JSON text ("42", "true").
	Claims map[string][]string `yaml:"claims"`
	// Glob makes the values path.Match patterns, so "*" stops at "/": "octo-org/*" matches
	// "octo-org/app" but not "octo-org/app/x".
	Glob bool `yaml:"glob"`
}

// KubernetesConfig binds a pod's containers to the pod's projected service-account token.
type KubernetesConfig struct {
	// TokenPath is the token file of a pod, with "{pod_uid}" standing for the pod's UID, e.g.
	// "/var/lib/kubelet/pods/{pod_uid}/volumes/kubernetes.io~projected/sluice-token/token".
	// Use a projected volume with sluice's own audience, not the API server's token.
	TokenPath string `yaml:"token_path"`
	// KubeletPrefixes are the cgroup paths above which this node's kubelet keeps its kubepods
	// hierarchy (Workload.KubeletPrefix); empty means ["/"]. A pod UID found under any other
	// prefix is not trusted, since any cgroup with delegation can grow a kubepods-shaped
	// subtree. A kind node's prefix is, for example, "/docker/<node container id>".
	KubeletPrefixes []string `yaml:"kubelet_prefixes"`
}

// StaticConfig binds the cgroups matching a pattern to a token file.
type StaticConfig struct {
	// Cgroup is a path.Match pattern over hierarchy paths ("/system.slice/etl-*.service"). A
	// cgroup is bound when it or an ancestor matches.
	Cgroup string `yaml:"cgroup"`
	// TokenFile is the absolute path of the token; it is re-read when it changes.
	TokenFile string `yaml:"token_file"`
}

// Defaults for zero values in Config.
const (
	DefaultFileRecheck     = 10 * time.Second
	DefaultHTTPTimeout     = 10 * time.Second
	DefaultRefetchInterval = 10 * time.Second
	DefaultRefetchBurst    = 3
	// MaxLeeway bounds IssuerConfig.Leeway: every second of leeway lengthens the life of every
	// token, including stolen ones.
	MaxLeeway = 5 * time.Minute
)

// asymmetricAlgs are the signing algorithms go-oidc verifies; the default allowlist.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// podUIDPlaceholder stands for the pod UID in KubernetesConfig.TokenPath.
const podUIDPlaceholder = "{pod_uid}"

// Validate reports every problem of the configuration at once, so an operator can fix a file
// in one go. The agent calls it when loading the configuration; the constructors call it too.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i := range c.Issuers {
		is := &c.Issuers[i]
		if seen[is.Issuer] {
			errs = append(errs, fmt.Errorf("issuers[%d]: issuer %q is listed twice", i, is.Issuer))
		}
		seen[is.Issuer] = true
		if err := is.validate(); err != nil {
			errs = append(errs, fmt.Errorf("issuers[%d] (%s): %w", i, is.Issuer, err))
		}
	}
	if k := c.Kubernetes; k != nil {
		if !strings.HasPrefix(k.TokenPath, "/") || !strings.Contains(k.TokenPath, podUIDPlaceholder) {
			errs = append(errs, fmt.Errorf("kubernetes.token_path %q: want an absolute path containing %s", k.TokenPath, podUIDPlaceholder))
		}
		for _, p := range k.KubeletPrefixes {
			if !strings.HasPrefix(p, "/") {
				errs = append(errs, fmt.Errorf("kubernetes.kubelet_prefixes: %q is not an absolute cgroup path", p))
			}
		}
	}
	for i, s := range c.Static {
		if _, err := path.Match(s.Cgroup, ""); err != nil || !strings.HasPrefix(s.Cgroup, "/") {
			errs = append(errs, fmt.Errorf("static[%d].cgroup %q: want an absolute path.Match pattern", i, s.Cgroup))
		}
		if !strings.HasPrefix(s.TokenFile, "/") {
			errs = append(errs, fmt.Errorf("static[%d].token_file %q: want an absolute path", i, s.TokenFile))
		}
	}
	if c.FileRecheck < 0 {
		errs = append(errs, fmt.Errorf("file_recheck %v is negative", c.FileRecheck))
	}
	return errors.Join(errs...)
}

func (is *IssuerConfig) validate() error {
	var errs []error
	if err := httpsURL(is.Issuer); err != nil {
		errs = append(errs, fmt.Errorf("issuer: %w", err))
	}
	switch {
	case is.JWKSURL != "" && is.KeysFile != "":
		errs = append(errs, errors.New("jwks_url and keys_file are exclusive: keys come from one place"))
	case is.JWKSURL != "":
		if err := httpsURL(is.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("jwks_url: %w", err))
		}
	case is.KeysFile != "" && is.CAFile != "":
		errs = append(errs, errors.New("ca_file is for fetching keys, but keys_file needs no fetching"))
	}
	if len(is.Audiences) == 0 || slices.Contains(is.Audiences, "") {
		errs = append(errs, errors.New("audiences: at least one non-empty audience is required"))
	}
	for _, a := range is.Algorithms {
		if !slices.Contains(asymmetricAlgs, a) {
			errs = append(errs, fmt.Errorf("algorithms: %q is not allowed; choose from %s (never none or HS*)", a, strings.Join(asymmetricAlgs, ", ")))
		}
	}
	if is.Leeway < 0 || is.Leeway > MaxLeeway {
		errs = append(errs, fmt.Errorf("leeway %v: want 0 to %v", is.Leeway, MaxLeeway))
	}
	if is.JWKSRefetch.Interval < 0 || is.JWKSRefetch.Burst < 0 || is.HTTPTimeout < 0 {
		errs = append(errs, errors.New("jwks_refetch and http_timeout must not be negative"))
	}
	if is.GroupsClaim != "" {
		if err := validClaimKey(is.GroupsClaim); err != nil {
			errs = append(errs, fmt.Errorf("groups_claim: %w", err))
		}
	}
	for _, c := range is.Claims {
		if err := validClaimKey(c); err != nil {
			errs = append(errs, fmt.Errorf("claims: %w", err))
		}
	}
	if len(is.Bindings) == 0 {
		errs = append(errs, errors.New("bindings: at least one binding is required (accepting every token the issuer signs would admit anyone it serves)"))
	}
	for i, b := range is.Bindings {
		if err := b.validate(); err != nil {
			errs = append(errs, fmt.Errorf("bindings[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func (b *Binding) validate() error {
	if len(b.Claims) == 0 {
		return errors.New("claims: bind at least one claim (use sub: [\"*\"] with glob to accept any subject on purpose)")
	}
	for _, k := range slices.Sorted(maps.Keys(b.Claims)) {
		vals := b.Claims[k]
		if err := validClaimKey(k); err != nil {
			return err
		}
		if len(vals) == 0 {
			return fmt.Errorf("claim %q lists no accepted values", k)
		}
		for _, v := range vals {
			if _, err := path.Match(v, ""); b.Glob && err != nil {
				return fmt.Errorf("claim %q: bad glob %q: %w", k, v, err)
			}
		}
	}
	return nil
}

// httpsURL checks that s is an absolute https URL: keys fetched over plain HTTP could be
// replaced by anyone on the path, and with them every identity.
func httpsURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an https URL", s)
	}
	return nil
}

// mutableClaims maps well-known claims that name something renameable to the immutable claim
// that identifies the same thing. Warnings uses it.
var mutableClaims = map[string]string{
	"repository":                         "repository_id",
	"repository_owner":                   "repository_owner_id",
	"project_path":                       "project_id",
	"namespace_path":                     "namespace_id",
	"/kubernetes.io/pod/name":            "/kubernetes.io/pod/uid",
	"/kubernetes.io/serviceaccount/name": "/kubernetes.io/serviceaccount/uid",
}

// Warnings lists bindings that bind a renameable name without the immutable id beside it. The
// configuration is valid, but a name can be given up and claimed by someone else (a deleted
// repository recreated by another user under the same name), and the binding would then admit
// them. The agent logs these when it loads the configuration.
func (c *Config) Warnings() []string {
	var out []string
	for _, is := range c.Issuers {
		for i, b := range is.Bindings {
			for name, id := range mutableClaims {
				if _, ok := b.Claims[name]; ok {
					if _, ok := b.Claims[id]; !ok {
						out = append(out, fmt.Sprintf("issuer %s bindings[%d] binds %q but not %q: a renamed or recreated %s would match", is.Issuer, i, name, id, strings.TrimPrefix(name, "/")))
					}
				}
			}
		}
	}
	slices.Sort(out)
	return out
}
