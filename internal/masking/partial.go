package masking

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// partialMasker keeps the first KeepFirst and last KeepLast characters of a string, or
// digits of a number, and masks the rest: X for characters, 0 for digits (so a number
// stays a number: 4111111111111111 keeping 4 becomes 1111). A value no longer than what
// would be kept is masked whole: keeping it would reveal it.
func (f *factory) partialMasker(r *Rule, c column) (masker, error) {
	first, last := r.KeepFirst, r.KeepLast
	switch c.cls {
	case classString:
		return func(dst, v []byte) ([]byte, bool) {
			if isASCII(v) { // one byte per character: copy and fill in bulk
				if len(v) <= first+last {
					return appendRepeated(dst, 'X', len(v)), false
				}
				dst = append(dst, v[:first]...)
				dst = appendRepeated(dst, 'X', len(v)-first-last)
				return append(dst, v[len(v)-last:]...), false
			}
			n := utf8.RuneCount(v)
			keepAll := n > first+last
			i := 0
			for _, ch := range string(v) {
				if keepAll && (i < first || i >= n-last) {
					dst = utf8.AppendRune(dst, ch)
				} else {
					dst = append(dst, 'X')
				}
				i++
			}
			return dst, false
		}, nil
	case classInt2, classInt4, classInt8:
		size := map[class]int{classInt2: 2, classInt4: 4, classInt8: 8}[c.cls]
		return func(dst, v []byte) ([]byte, bool) {
			n, ok := decodeInt(v, c.binary, size)
			if !ok {
				return dst, true
			}
			masked := maskDigits(strconv.AppendInt(nil, n, 10), first, last)
			m, err := strconv.ParseInt(string(masked), 10, size*8)
			if err != nil {
				return dst, true
			}
			return encodeInt(dst, m, c.binary, size), false
		}, nil
	case classNumeric:
		if !c.binary {
			return func(dst, v []byte) ([]byte, bool) {
				return append(dst, maskDigits(append([]byte(nil), v...), first, last)...), false
			}, nil
		}
		// Binary numeric goes through its text form, with pgx's codec both ways.
		return func(dst, v []byte) ([]byte, bool) {
			var n pgtype.Numeric
			if err := f.types.Scan(pgtype.NumericOID, pgtype.BinaryFormatCode, v, &n); err != nil || !n.Valid {
				return dst, true
			}
			text, err := f.types.Encode(pgtype.NumericOID, pgtype.TextFormatCode, n, nil)
			if err != nil {
				return dst, true
			}
			var m pgtype.Numeric
			if err := f.types.Scan(pgtype.NumericOID, pgtype.TextFormatCode, maskDigits(text, first, last), &m); err != nil {
				return dst, true
			}
			out, err := f.types.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, m, dst)
			return out, err != nil
		}, nil
	}
	return nil, fmt.Errorf("rule %s: partial masking needs a string or number type: %w", r.Name, errUnsupported)
}

// maskDigits replaces with 0 every digit but the first `first` and last `last` ones, in
// place; with no more digits than that, every digit.
func maskDigits(b []byte, first, last int) []byte {
	n := 0
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	keepAll := n > first+last
	i := 0
	for j, c := range b {
		if c < '0' || c > '9' {
			continue
		}
		if !keepAll || (i >= first && i < n-last) {
			b[j] = '0'
		}
		i++
	}
	return b
}

func decodeInt(v []byte, bin bool, size int) (int64, bool) {
	if !bin {
		n, err := strconv.ParseInt(string(v), 10, 64)
		return n, err == nil
	}
	if len(v) != size {
		return 0, false
	}
	switch size {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(v))), true
	case 4:
		return int64(int32(binary.BigEndian.Uint32(v))), true
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

func encodeInt(dst []byte, n int64, bin bool, size int) []byte {
	if !bin {
		return strconv.AppendInt(dst, n, 10)
	}
	switch size {
	case 2:
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	case 4:
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

func isASCII(v []byte) bool {
	for _, c := range v {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// appendRepeated appends n copies of c: masks are written per row, so in one step.
func appendRepeated(dst []byte, c byte, n int) []byte {
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	for i := start; i < len(dst); i++ {
		dst[i] = c
	}
	return dst
}
