package policy

import "strings"

// Identity is the part of a verified workload identity that rules match on. It is defined
// here, not imported, so that policy depends on no identity provider.
type Identity struct {
	Issuer  string
	Subject string
	Groups  []string
	key     string
}

// NewIdentity builds an Identity and precomputes its cache key, which saves an allocation
// per statement on the cached path; callers should build it once per session.
func NewIdentity(issuer, subject string, groups []string) Identity {
	id := Identity{Issuer: issuer, Subject: subject, Groups: groups}
	id.key = id.computeKey()
	return id
}

// Key identifies the identity in decision caches: two identities with equal keys get the
// same decisions.
func (id Identity) Key() string {
	if id.key != "" {
		return id.key
	}
	return id.computeKey()
}

func (id Identity) computeKey() string {
	var b strings.Builder
	b.WriteString(id.Issuer)
	b.WriteByte(0)
	b.WriteString(id.Subject)
	for _, g := range id.Groups {
		b.WriteByte(0)
		b.WriteString(g)
	}
	return b.String()
}
