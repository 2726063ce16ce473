// Package detect finds sensitive values by their content — payment card numbers (Luhn),
// US social security numbers, email addresses, phone numbers, IBANs (mod 97), and secrets
// (JWTs, AWS access key IDs, private-key PEM blocks) — in text that has no column origin to
// mask it by: computed result columns, error and notice messages, notification payloads.
//
// Each kind has a cheap byte-level pre-filter; the regular expressions run only on text
// that passes one, so clean text costs a single pass over its bytes.
package detect

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is a kind of sensitive value.
type Kind uint8

// The kinds of sensitive values the detectors find.
const (
	Card Kind = iota
	SSN
	Email
	Phone
	IBAN
	JWT
	AWSKey
	PrivateKey
	numKinds
)

var kindNames = [numKinds]string{"card", "ssn", "email", "phone", "iban", "jwt", "aws_key", "private_key"}

// String is the kind's name in configuration.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// ParseKind reads a kind's configuration name.
func ParseKind(s string) (Kind, error) {
	if i := slices.Index(kindNames[:], s); i >= 0 {
		return Kind(i), nil
	}
	return 0, fmt.Errorf("unknown detector %q (want one of %s)", s, strings.Join(kindNames[:], ", "))
}

// Kinds lists every kind.
func Kinds() []Kind {
	out := make([]Kind, numKinds)
	for i := range out {
		out[i] = Kind(i)
	}
	return out
}

// Hit is one sensitive value found: text[Start:End].
type Hit struct {
	Kind       Kind
	Start, End int
}

// Detector finds the enabled kinds. The zero value finds nothing; it is safe for
// concurrent use.
type Detector struct {
	kinds [numKinds]bool
}

// New returns a detector for the given kinds.
func New(kinds ...Kind) *Detector {
	d := &Detector{}
	for _, k := range kinds {
		if k < numKinds {
			d.kinds[k] = true
		}
	}
	return d
}

// Find returns the hits in text, ordered by position, without overlaps (the earlier, then
// longer, hit wins).
func (d *Detector) Find(text []byte) []Hit {
	f := scan(text)
	var hits []Hit
	for k := range numKinds {
		if d.kinds[k] && f.may(k) {
			hits = finders[k](text, hits)
		}
	}
	if len(hits) < 2 {
		return hits
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	out := hits[:1]
	for _, h := range hits[1:] {
		if h.Start >= out[len(out)-1].End {
			out = append(out, h)
		}
	}
	return out
}

// Mask returns text with every hit masked in place (see Hit masking rules in mask.go),
// and whether anything was found. The result has the same length in bytes as text, and
// the masked bytes are ASCII, so a value stays valid UTF-8 and keeps its length.
func (d *Detector) Mask(text []byte) ([]byte, bool) {
	hits := d.Find(text)
	if len(hits) == 0 {
		return text, false
	}
	out := append([]byte(nil), text...)
	for _, h := range hits {
		maskHit(out[h.Start:h.End], h.Kind)
	}
	return out, true
}

// MaskString is Mask for strings.
func (d *Detector) MaskString(s string) (string, bool) {
	out, hit := d.Mask([]byte(s))
	if !hit {
		return s, false
	}
	return string(out), true
}
