package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"time"
)

// ErrNotBound means a token verified but matches none of its issuer's bindings.
var ErrNotBound = errors.New("token matches no binding")

// matches reports whether every bound claim of b is in c with an accepted value.
func (b *Binding) matches(c claims) bool {
	for key, accepted := range b.Claims {
		if !slices.ContainsFunc(c.strings(key), func(have string) bool { return b.accepts(accepted, have) }) {
			return false
		}
	}
	return true
}

// accepts reports whether have is one of the accepted values (patterns when b.Glob).
func (b *Binding) accepts(accepted []string, have string) bool {
	for _, a := range accepted {
		if !b.Glob && a == have {
			return true
		}
		if ok, _ := path.Match(a, have); b.Glob && ok { // patterns were validated
			return true
		}
	}
	return false
}

// identity maps the verified claims of a token from this issuer to an Identity through the
// bindings. Every matching binding contributes its groups; at most one subject may come out of
// them, since two would make the policy subject depend on binding order.
func (is *IssuerConfig) identity(c claims, sub, jti string, exp time.Time, raw string) (Identity, error) {
	id := Identity{Issuer: is.Issuer, Subject: sub, Expiry: exp, TokenID: jti}
	if id.TokenID == "" {
		sum := sha256.Sum256([]byte(raw))
		id.TokenID = "sha256:" + hex.EncodeToString(sum[:16])
	}
	selected := append([]string{"sub"}, is.Claims...)
	var subjects []string
	matched := 0
	for _, b := range is.Bindings {
		if !b.matches(c) {
			continue
		}
		matched++
		if b.Subject != "" && !slices.Contains(subjects, b.Subject) {
			subjects = append(subjects, b.Subject)
		}
		id.Groups = append(id.Groups, b.Groups...)
		selected = slices.AppendSeq(selected, maps.Keys(b.Claims))
	}
	switch {
	case matched == 0:
		return Identity{}, fmt.Errorf("token of %q from %s: %w", sub, is.Issuer, ErrNotBound)
	case len(subjects) > 1:
		return Identity{}, fmt.Errorf("token of %q from %s matches bindings with different subjects %q: refusing to pick one", sub, is.Issuer, subjects)
	case len(subjects) == 1:
		id.Subject = subjects[0]
	}
	if is.GroupsClaim != "" {
		id.Groups = append(id.Groups, c.strings(is.GroupsClaim)...)
	}
	slices.Sort(id.Groups)
	id.Groups = slices.Compact(id.Groups)
	id.Claims = map[string]any{}
	for _, k := range selected {
		if v, ok := c.lookup(k); ok {
			id.Claims[k] = v
		}
	}
	return id, nil
}
