package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// claims are a verified token's payload, decoded with numbers kept as json.Number so that
// numeric ids (repository_id in some providers) compare exactly instead of as float64.
type claims map[string]any

// decodeClaims decodes a verified token payload.
func decodeClaims(payload []byte) (claims, error) {
	d := json.NewDecoder(strings.NewReader(string(payload)))
	d.UseNumber()
	var c claims
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("token claims: %w", err)
	}
	return c, nil
}

// validClaimKey checks a claim key from the configuration: a top-level claim name, or a JSON
// pointer (RFC 6901) starting with "/" for nested claims such as Kubernetes'
// "/kubernetes.io/pod/uid" (whose first key itself contains a dot, so dotted paths would be
// ambiguous).
func validClaimKey(k string) error {
	if k == "" || k == "/" {
		return errors.New("empty claim name")
	}
	if strings.HasPrefix(k, "/") {
		for tok := range strings.SplitSeq(k[1:], "/") {
			if tok == "" {
				return fmt.Errorf("claim pointer %q has an empty segment", k)
			}
		}
	}
	return nil
}

// lookup returns the value of the claim key (a name or a JSON pointer).
func (c claims) lookup(key string) (any, bool) {
	if !strings.HasPrefix(key, "/") {
		v, ok := c[key]
		return v, ok
	}
	var cur any = map[string]any(c)
	for tok := range strings.SplitSeq(key[1:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// strings returns the claim key's values as text: a scalar is one value, a list is its scalar
// elements. Objects and null have no text form and yield nothing, so they never match.
func (c claims) strings(key string) []string {
	v, ok := c.lookup(key)
	if !ok {
		return nil
	}
	if list, ok := v.([]any); ok {
		var out []string
		for _, e := range list {
			if s, ok := scalarText(e); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := scalarText(v); ok {
		return []string{s}
	}
	return nil
}

// scalarText renders a JSON scalar as bindings compare it.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}
