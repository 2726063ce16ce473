package identity

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// TestConfigYAML decodes a full identity section the way the agent does (strictly), so the
// yaml names and the duration syntax are checked.
func TestConfigYAML(t *testing.T) {
	const doc = `
issuers:
  - issuer: https://token.actions.githubusercontent.com
    audiences: [sluice]
    algorithms: [RS256]
    leeway: 30s
    jwks_refetch: {interval: 1m, burst: 2}
    http_timeout: 5s
    groups_claim: /realm/groups
    claims: [repository, ref]
    bindings:
      - subject: app-deployer
        groups: [deployers]
        claims: {repository_id: ["123456789"], ref: [refs/heads/*]}
        glob: true
  - issuer: https://kubernetes.default.svc
    keys_file: /etc/sluice/k8s-sa.pub
    audiences: [sluice]
    bindings:
      - claims: {/kubernetes.io/namespace: [ci]}
kubernetes:
  token_path: /var/lib/kubelet/pods/{pod_uid}/volumes/kubernetes.io~projected/sluice-token/token
  kubelet_prefixes: [/]
static:
  - cgroup: /system.slice/etl-*.service
    token_file: /etc/sluice/etl.token
file_recheck: 5s
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	gh := c.Issuers[0]
	if gh.Leeway != 30*time.Second || gh.JWKSRefetch != (RefetchLimit{Interval: time.Minute, Burst: 2}) || gh.HTTPTimeout != 5*time.Second ||
		gh.Bindings[0].Claims["repository_id"][0] != "123456789" || !gh.Bindings[0].Glob || c.FileRecheck != 5*time.Second ||
		c.Kubernetes.KubeletPrefixes[0] != "/" || c.Static[0].TokenFile != "/etc/sluice/etl.token" || c.Issuers[1].KeysFile == "" {
		t.Errorf("decoded %+v", c)
	}
	dec = yaml.NewDecoder(strings.NewReader("issuers: [{issuer: https://x, audience: [sluice]}]"))
	dec.KnownFields(true)
	if err := dec.Decode(&Config{}); err == nil {
		t.Error("a misspelt field (audience) was accepted")
	}
}

// TestConfigValidate checks that every misconfiguration is refused with a message naming it.
func TestConfigValidate(t *testing.T) {
	good := func() IssuerConfig {
		return IssuerConfig{
			Issuer:    "https://issuer.example",
			Audiences: []string{"sluice"},
			Bindings:  []Binding{{Claims: map[string][]string{"sub": {"x"}}}},
		}
	}
	if err := (&Config{Issuers: []IssuerConfig{good()}}).Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"http issuer", func(c *Config) { c.Issuers[0].Issuer = "http://issuer.example" }, "not an https URL"},
		{"http jwks", func(c *Config) { c.Issuers[0].JWKSURL = "http://issuer.example/jwks" }, "not an https URL"},
		{"two key sources", func(c *Config) { c.Issuers[0].JWKSURL = "https://x/jwks"; c.Issuers[0].KeysFile = "/k" }, "exclusive"},
		{"ca with static keys", func(c *Config) { c.Issuers[0].KeysFile = "/k"; c.Issuers[0].CAFile = "/ca" }, "needs no fetching"},
		{"no audience", func(c *Config) { c.Issuers[0].Audiences = nil }, "audience is required"},
		{"empty audience", func(c *Config) { c.Issuers[0].Audiences = []string{""} }, "audience is required"},
		{"alg none", func(c *Config) { c.Issuers[0].Algorithms = []string{"none"} }, "never none or HS*"},
		{"alg HS256", func(c *Config) { c.Issuers[0].Algorithms = []string{"RS256", "HS256"} }, `"HS256" is not allowed`},
		{"leeway too long", func(c *Config) { c.Issuers[0].Leeway = time.Hour }, "leeway"},
		{"negative leeway", func(c *Config) { c.Issuers[0].Leeway = -time.Second }, "leeway"},
		{"negative burst", func(c *Config) { c.Issuers[0].JWKSRefetch.Burst = -1 }, "negative"},
		{"no bindings", func(c *Config) { c.Issuers[0].Bindings = nil }, "at least one binding"},
		{"binding binds nothing", func(c *Config) { c.Issuers[0].Bindings = []Binding{{Subject: "x"}} }, "bind at least one claim"},
		{"binding without values", func(c *Config) { c.Issuers[0].Bindings[0].Claims["sub"] = nil }, "no accepted values"},
		{"bad glob", func(c *Config) {
			c.Issuers[0].Bindings = []Binding{{Glob: true, Claims: map[string][]string{"sub": {"[x"}}}}
		}, "bad glob"},
		{"bad pointer", func(c *Config) { c.Issuers[0].Bindings[0].Claims["/a//b"] = []string{"x"} }, "empty segment"},
		{"bad groups claim", func(c *Config) { c.Issuers[0].GroupsClaim = "/" }, "groups_claim"},
		{"duplicate issuer", func(c *Config) { c.Issuers = append(c.Issuers, good()) }, "listed twice"},
		{"k8s template", func(c *Config) { c.Kubernetes = &KubernetesConfig{TokenPath: "/var/lib/kubelet/token"} }, "{pod_uid}"},
		{"k8s relative prefix", func(c *Config) {
			c.Kubernetes = &KubernetesConfig{TokenPath: "/p/{pod_uid}/t", KubeletPrefixes: []string{"docker"}}
		}, "not an absolute cgroup path"},
		{"static pattern", func(c *Config) { c.Static = []StaticConfig{{Cgroup: "[", TokenFile: "/t"}} }, "path.Match pattern"},
		{"static relative file", func(c *Config) { c.Static = []StaticConfig{{Cgroup: "/x", TokenFile: "t"}} }, "absolute path"},
		{"negative recheck", func(c *Config) { c.FileRecheck = -time.Second }, "file_recheck"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Issuers: []IssuerConfig{good()}}
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Validate = %v, want an error containing %q", err, tt.err)
			}
		})
	}
}

// TestConfigWarnings flags bindings on renameable names without their immutable ids.
func TestConfigWarnings(t *testing.T) {
	c := Config{Issuers: []IssuerConfig{{
		Issuer: "https://token.actions.githubusercontent.com",
		Bindings: []Binding{
			{Claims: map[string][]string{"repository": {"octo-org/app"}}},
			{Claims: map[string][]string{"repository": {"octo-org/app"}, "repository_id": {"123"}}},
			{Claims: map[string][]string{"/kubernetes.io/pod/name": {"runner-0"}}},
		},
	}}}
	got := c.Warnings()
	if len(got) != 2 || !strings.Contains(got[0], `bindings[0] binds "repository" but not "repository_id"`) || !strings.Contains(got[1], `"/kubernetes.io/pod/uid"`) {
		t.Errorf("Warnings = %q", got)
	}
}
