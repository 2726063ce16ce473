package roles

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/sluicehq/sluice/internal/identity"
)

// matches reports whether id (nil: no verified identity) satisfies every condition of m.
// A session without a verified identity matches no entry, only the default.
func (m *Match) matches(id *identity.Identity) bool {
	if id == nil {
		return false
	}
	if m.Issuer != "" && m.Issuer != id.Issuer {
		return false
	}
	if len(m.Subjects) > 0 && !slices.Contains(m.Subjects, id.Subject) {
		return false
	}
	if len(m.Groups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(m.Groups, g) }) {
		return false
	}
	for name, accepted := range m.Claims {
		v, ok := id.Claims[name]
		if !ok || !slices.ContainsFunc(claimStrings(v), func(s string) bool { return slices.Contains(accepted, s) }) {
			return false
		}
	}
	return true
}

// claimStrings returns a claim's value as the strings a configuration can name: the string
// itself, a number or boolean in its JSON spelling, each element of a list. Objects and
// nulls yield nothing, so they never match.
func claimStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case json.Number:
		return []string{v.String()}
	case bool:
		return []string{strconv.FormatBool(v)}
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}
	case []any:
		var out []string
		for _, e := range v {
			if _, nested := e.([]any); !nested {
				out = append(out, claimStrings(e)...)
			}
		}
		return out
	case []string:
		return v
	}
	return nil
}

// describe names an identity in a refusal: what the operator needs to write a mapping.
func describe(id *identity.Identity) string {
	if id == nil {
		return "a session without a verified identity"
	}
	return fmt.Sprintf("identity %q (issuer %s, groups %q)", id.Subject, id.Issuer, id.Groups)
}
