package policy

import (
	"strings"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// shapeMark stands for an integer constant in a shape. The scan refuses any text that has
// it outside a string literal, and copies literals unchanged, so a mark outside a literal
// can only come from a replaced constant.
const shapeMark = '$'

// shapeOf returns the query string with every integer constant replaced by shapeMark, when
// the text is simple enough that this scan and PostgreSQL's lexer provably agree on where
// each integer constant begins and ends: ASCII outside string literals, no backslash (which
// standard_conforming_strings=off would make an escape), no quoted identifiers, no dollar
// quoting or parameters, no comments, and no number that is not a plain run of digits
// (1.5, 1e5, 0x1f and 1_000 all refuse), nor one beyond int4 (the lexer makes those numeric
// constants, which the grammar accepts in fewer places: FETCH 5 parses, FETCH 2147483648
// does not). Two texts with the same shape then lex to the same
// tokens except for the values of integer constants, so they classify alike whenever
// sameShapeHolds, and one decision serves both: a client that sends its
// literals inline (pgbench -M simple, most ORMs' non-prepared paths) is parsed once per
// shape instead of once per statement.
//
// Anything it refuses is still classified exactly, by text; the scan can only lose cache
// hits, never widen one.
func shapeOf(sql string) (string, []intToken, bool) {
	var (
		b    strings.Builder
		ints []intToken
	)
	b.Grow(len(sql))
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			end := strings.IndexByte(sql[i+1:], '\'')
			if end < 0 {
				return "", nil, false
			}
			lit := sql[i : i+end+2]
			if strings.IndexByte(lit, '\\') >= 0 {
				return "", nil, false
			}
			// A doubled quote inside a literal is read as two adjacent literals here;
			// either way every byte up to the real end is copied unchanged.
			b.WriteString(lit)
			i += len(lit)
		case isIdentStart(c):
			j := i + 1
			for j < len(sql) && isIdentChar(sql[j]) {
				j++
			}
			b.WriteString(sql[i:j])
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(sql) && isDigit(sql[j]) {
				j++
			}
			if (i > 0 && sql[i-1] == '.') || (j < len(sql) && (isIdentChar(sql[j]) || sql[j] == '.')) {
				return "", nil, false
			}
			if !fitsInt4(sql[i:j]) {
				return "", nil, false
			}
			ints = append(ints, intToken{at: i, minus: minusBefore(sql, i)})
			b.WriteByte(shapeMark)
			i = j
		case c >= 0x80, c == '\\', c == '"', c == shapeMark, c == 0:
			return "", nil, false
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return "", nil, false
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), ints, true
}

// intToken is where an integer constant starts in the text, and where the minus sign is
// that directly precedes it (-1 if none): the grammar reports a negated constant there.
type intToken struct{ at, minus int }

// sameShapeHolds reports whether a decision on c serves every statement of its shape:
// its classification reads no constant's value and every integer of the text is a constant
// value in the tree, not part of the statement's structure.
func sameShapeHolds(c *classify.Classification, ints []intToken) bool {
	if !c.ValueFree() {
		return false
	}
	for _, t := range ints {
		if !c.IntConstantAt(t.at) && (t.minus < 0 || !c.IntConstantAt(t.minus)) {
			return false
		}
	}
	return true
}

func minusBefore(sql string, i int) int {
	for i--; i >= 0; i-- {
		switch sql[i] {
		case ' ', '\t', '\n', '\r', '\f':
			continue
		case '-':
			return i
		}
		return -1
	}
	return -1
}

// fitsInt4 reports whether a run of digits is an integer constant to PostgreSQL's lexer
// (ICONST) rather than a numeric one.
func fitsInt4(digits string) bool {
	digits = strings.TrimLeft(digits, "0")
	return len(digits) < 10 || (len(digits) == 10 && digits <= "2147483647")
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
