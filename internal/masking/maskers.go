package masking

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluicehq/sluice/internal/masking/detect"
)

// masker rewrites one non-NULL value. It appends the new value to dst and returns it, or
// null to send NULL instead. Values are in the wire format the masker was built for.
type masker func(dst, v []byte) (out []byte, null bool)

// errUnsupported means a strategy cannot produce a valid value of a type in a format.
var errUnsupported = errors.New("unsupported")

// column is what a masker is built for.
type column struct {
	oid    uint32
	typmod int32
	cls    class
	binary bool
}

// nullMasker sends NULL, a valid value of every type in every format.
func nullMasker(dst, _ []byte) ([]byte, bool) { return dst, true }

// constMasker sends a fixed encoded value.
func constMasker(val []byte) masker {
	return func(dst, _ []byte) ([]byte, bool) { return append(dst, val...), false }
}

// factory builds maskers for one session's result direction. It is used from that
// direction's goroutine only: pgtype.Map is not safe for concurrent use.
type factory struct {
	key      []byte
	detector *detect.Detector
	types    *pgtype.Map
}

func newFactory(key []byte, d *detect.Detector) *factory {
	return &factory{key: key, detector: d, types: pgtype.NewMap()}
}

// strategyMasker builds the masker of rule r for column c. cast converts redact's fixed
// value through the server (text and binary encodings).
func (f *factory) strategyMasker(r *Rule, c column, cast func() (text, binary []byte, err error)) (masker, error) {
	switch r.Strategy {
	case Redact:
		if r.Value == nil {
			return nullMasker, nil
		}
		text, bin, err := cast()
		if err != nil {
			return nil, fmt.Errorf("rule %s: redact value: %w", r.Name, err)
		}
		if c.binary {
			if bin == nil {
				return nil, fmt.Errorf("rule %s: type %d has no binary form: %w", r.Name, c.oid, errUnsupported)
			}
			return constMasker(bin), nil
		}
		return constMasker(text), nil
	case Partial:
		return f.partialMasker(r, c)
	case Hash:
		return f.hashMasker(r, c)
	case Email:
		if c.cls != classString {
			return nil, fmt.Errorf("rule %s: email masking needs a string type: %w", r.Name, errUnsupported)
		}
		return emailMasker, nil
	case Detect:
		return f.contentMasker(c), nil
	}
	return nil, fmt.Errorf("rule %s: strategy %q: %w", r.Name, r.Strategy, errUnsupported)
}

// emailMasker replaces the local part of an address with x's and keeps the domain; a value
// that is not an address is masked whole. Characters are replaced one for one, so a
// varchar(n) value stays within n.
func emailMasker(dst, v []byte) ([]byte, bool) {
	end := len(v)
	if at := bytes.LastIndexByte(v, '@'); at > 0 {
		end = at
	}
	dst = appendRepeated(dst, 'x', utf8.RuneCount(v[:end]))
	return append(dst, v[end:]...), false
}
