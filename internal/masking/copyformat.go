package masking

import (
	"bytes"

	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// splitText splits a text-format row at delimiters not escaped by a backslash.
func splitText(row []byte, delim byte) [][]byte {
	var fields [][]byte
	start := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case delim:
			fields = append(fields, row[start:i])
			start = i + 1
		}
	}
	return append(fields, row[start:])
}

// textValue decodes a text-format field: the NULL marker, or a value with backslash
// escapes (\b \f \n \r \t \v, \digits octal, \xhex, \other itself).
func textValue(field []byte, o *lineage.CopyOut) ([]byte, bool) {
	if string(field) == o.Null {
		return nil, true
	}
	if bytes.IndexByte(field, '\\') < 0 {
		return field, false
	}
	out := make([]byte, 0, len(field))
	for i := 0; i < len(field); i++ {
		c := field[i]
		if c != '\\' || i+1 == len(field) {
			out = append(out, c)
			continue
		}
		i++
		switch e := field[i]; e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(field) && isHex(field[i+1]) {
				i++
				v = v*16 + hexVal(field[i])
				n++
			}
			if n == 0 {
				out = append(out, 'x')
			} else {
				out = append(out, byte(v))
			}
		default:
			if e >= '0' && e <= '7' {
				v := int(e - '0')
				for n := 1; n < 3 && i+1 < len(field) && field[i+1] >= '0' && field[i+1] <= '7'; n++ {
					i++
					v = v*8 + int(field[i]-'0')
				}
				out = append(out, byte(v))
			} else {
				out = append(out, e)
			}
		}
	}
	return out, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

// appendText escapes a value for a text-format row as COPY TO does: control characters
// by letter, the backslash and the delimiter with a backslash.
func appendText(out, v []byte, delim byte) []byte {
	for _, c := range v {
		switch c {
		case '\\':
			out = append(out, '\\', '\\')
		case '\b':
			out = append(out, '\\', 'b')
		case '\f':
			out = append(out, '\\', 'f')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		case '\t':
			out = append(out, '\\', 't')
		case '\v':
			out = append(out, '\\', 'v')
		case delim:
			out = append(out, '\\', c)
		default:
			out = append(out, c)
		}
	}
	return out
}

// splitCSV splits a CSV row at delimiters outside quoted sections.
func splitCSV(row []byte, o *lineage.CopyOut) [][]byte {
	var fields [][]byte
	start, inQuote := 0, false
	for i := 0; i < len(row); i++ {
		c := row[i]
		switch {
		case inQuote && c == o.Escape && o.Escape != o.Quote && i+1 < len(row) && (row[i+1] == o.Quote || row[i+1] == o.Escape):
			i++
		case inQuote && c == o.Quote && o.Escape == o.Quote && i+1 < len(row) && row[i+1] == o.Quote:
			i++
		case c == o.Quote:
			inQuote = !inQuote
		case !inQuote && c == o.Delimiter:
			fields = append(fields, row[start:i])
			start = i + 1
		}
	}
	return append(fields, row[start:])
}

// csvValue decodes a CSV field: an unquoted NULL marker, or a value (quoted sections
// unquoted, escaped quotes unescaped).
func csvValue(field []byte, o *lineage.CopyOut) ([]byte, bool) {
	if string(field) == o.Null {
		return nil, true
	}
	if bytes.IndexByte(field, o.Quote) < 0 {
		return field, false
	}
	out := make([]byte, 0, len(field))
	inQuote := false
	for i := 0; i < len(field); i++ {
		c := field[i]
		switch {
		case inQuote && c == o.Escape && i+1 < len(field) && (field[i+1] == o.Quote || field[i+1] == o.Escape) && (o.Escape != o.Quote || field[i+1] == o.Quote):
			i++
			out = append(out, field[i])
		case c == o.Quote:
			inQuote = !inQuote
		default:
			out = append(out, c)
		}
	}
	return out, false
}

// appendCSV writes a value quoted, escaping quote and escape characters.
func appendCSV(out, v []byte, o *lineage.CopyOut) []byte {
	out = append(out, o.Quote)
	for _, c := range v {
		if c == o.Quote || c == o.Escape {
			out = append(out, o.Escape)
		}
		out = append(out, c)
	}
	return append(out, o.Quote)
}
