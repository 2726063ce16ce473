package identity

import (
	"slices"
	"time"
)

// Identity is a workload's verified identity. It travels with a session to policy, masking and
// audit, so it holds only what the issuer signed and the bindings derived from it. The Resolver
// hands the same Identity to every session of a cgroup: treat it, Groups and Claims included,
// as read-only.
type Identity struct {
	// Issuer is the token's issuer, as configured.
	Issuer string
	// Subject is the policy subject: the matching binding's subject, or the token's "sub".
	Subject string
	// Groups are the groups from the issuer's groups claim and the matching bindings,
	// sorted and without duplicates.
	Groups []string
	// Claims are the selected claims (see IssuerConfig.Claims): always "sub", and every claim a
	// matching binding checked, so an audit record shows what the grant rested on. Values are
	// as decoded from JSON, numbers as json.Number.
	Claims map[string]any
	// Expiry is the token's "exp". The grant ends then (plus the issuer's leeway): see
	// Resolver.Continue.
	Expiry time.Time
	// TokenID is the token's "jti", or, for tokens without one, "sha256:" and the first 16
	// bytes of the token's SHA-256 in hex, so an audit record names the exact token without
	// holding the bearer secret itself.
	TokenID string
}

// sameHolder reports whether b describes the same holder as a: issuer, subject and groups. A
// refreshed token (re-enrollment, kubelet rotation) may change every other claim and the
// expiry; a change of these three would change what policy allows mid-session.
func (a Identity) sameHolder(b Identity) bool {
	return a.Issuer == b.Issuer && a.Subject == b.Subject && slices.Equal(a.Groups, b.Groups)
}
