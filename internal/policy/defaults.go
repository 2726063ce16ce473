package policy

// defaultPolicy is the policy in force when none is configured: the default guardrails,
// everything else allowed.
const defaultPolicy = `
default: allow
rules:
  - pack: default
`

// DefaultRules returns the built-in policy: the default pack, then allow.
func DefaultRules() *RuleSet {
	rs, err := Parse("builtin default policy", []byte(defaultPolicy))
	if err != nil {
		panic(err) // the embedded packs are tested
	}
	return rs
}
