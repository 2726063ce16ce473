package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5/pgtype"
)

// hashMasker replaces a value by HMAC-SHA-256(node key, value's canonical text), shaped as
// a valid value of the column's type: hex for strings (cut to the type's length), a
// non-negative integer for integer and numeric types, a version-8 UUID, 32 bytes for bytea,
// a JSON string for json and jsonb. Equal values give equal results on every node that
// shares the key, so joins and grouping on masked columns still work.
func (f *factory) hashMasker(r *Rule, c column) (masker, error) {
	canonical, ok := f.canonicalText(c)
	if !ok {
		return nil, fmt.Errorf("rule %s: hashing type %d: %w", r.Name, c.oid, errUnsupported)
	}
	sum := func(v []byte) ([sha256.Size]byte, bool) {
		text, ok := canonical(v)
		if !ok {
			return [sha256.Size]byte{}, false
		}
		m := hmac.New(sha256.New, f.key)
		m.Write(text)
		var out [sha256.Size]byte
		m.Sum(out[:0])
		return out, true
	}
	var shape func(dst []byte, h [sha256.Size]byte) ([]byte, bool)
	switch c.cls {
	case classString:
		limit := typeLimit(c.oid, c.typmod)
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			x := hex.EncodeToString(h[:])
			if limit > 0 && len(x) > limit {
				x = x[:limit]
			}
			return append(dst, x...), false
		}
	case classInt2, classInt4, classInt8:
		size := map[class]int{classInt2: 2, classInt4: 4, classInt8: 8}[c.cls]
		max := map[class]uint64{classInt2: math.MaxInt16, classInt4: math.MaxInt32, classInt8: math.MaxInt64}[c.cls]
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			return encodeInt(dst, int64(binary.BigEndian.Uint64(h[:8])&max), c.binary, size), false
		}
	case classNumeric:
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			n := int64(binary.BigEndian.Uint64(h[:8]) & math.MaxInt64)
			if !c.binary {
				return strconv.AppendInt(dst, n, 10), false
			}
			out, err := f.types.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, n, dst)
			return out, err != nil
		}
	case classUUID:
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			var u [16]byte
			copy(u[:], h[:16])
			u[6] = u[6]&0x0f | 0x80 // version 8: custom
			u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
			if c.binary {
				return append(dst, u[:]...), false
			}
			return append(dst, uuidText(u)...), false
		}
	case classBytea:
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			if c.binary {
				return append(dst, h[:]...), false
			}
			return append(append(dst, `\x`...), hex.EncodeToString(h[:])...), false
		}
	case classJSON, classJSONB:
		shape = func(dst []byte, h [sha256.Size]byte) ([]byte, bool) {
			if c.binary && c.cls == classJSONB {
				dst = append(dst, 1)
			}
			return append(append(append(dst, '"'), hex.EncodeToString(h[:])...), '"'), false
		}
	}
	return func(dst, v []byte) ([]byte, bool) {
		h, ok := sum(v)
		if !ok {
			return dst, true
		}
		return shape(dst, h)
	}, nil
}

// canonicalText returns how a value of the column is reduced to the text that is hashed:
// its text form whatever the wire format, so a value hashes the same for text and binary
// clients.
func (f *factory) canonicalText(c column) (func([]byte) ([]byte, bool), bool) {
	switch c.cls {
	case classString, classJSON:
		return func(v []byte) ([]byte, bool) { return v, true }, true
	case classJSONB:
		if !c.binary {
			return func(v []byte) ([]byte, bool) { return v, true }, true
		}
		return func(v []byte) ([]byte, bool) {
			if len(v) == 0 || v[0] != 1 {
				return nil, false
			}
			return v[1:], true
		}, true
	case classInt2, classInt4, classInt8:
		size := map[class]int{classInt2: 2, classInt4: 4, classInt8: 8}[c.cls]
		return func(v []byte) ([]byte, bool) {
			n, ok := decodeInt(v, c.binary, size)
			return strconv.AppendInt(nil, n, 10), ok
		}, true
	case classNumeric, classUUID, classBytea:
		if !c.binary && c.cls != classBytea {
			return func(v []byte) ([]byte, bool) { return v, true }, true
		}
		format := int16(pgtype.TextFormatCode)
		if c.binary {
			format = pgtype.BinaryFormatCode
		}
		return func(v []byte) ([]byte, bool) {
			switch c.cls {
			case classBytea:
				var b []byte
				if err := f.types.Scan(c.oid, format, v, &b); err != nil {
					return nil, false
				}
				return b, true
			case classUUID:
				var u pgtype.UUID
				if err := f.types.Scan(c.oid, format, v, &u); err != nil || !u.Valid {
					return nil, false
				}
				return []byte(uuidText(u.Bytes)), true
			}
			var n pgtype.Numeric
			if err := f.types.Scan(c.oid, format, v, &n); err != nil || !n.Valid {
				return nil, false
			}
			out, err := f.types.Encode(pgtype.NumericOID, pgtype.TextFormatCode, n, nil)
			return out, err == nil
		}, true
	}
	return nil, false
}

// uuidText is a UUID's canonical text form.
func uuidText(u [16]byte) string {
	x := hex.EncodeToString(u[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
