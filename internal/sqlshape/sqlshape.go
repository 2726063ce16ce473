// Package sqlshape lets caches keyed on SQL text serve statements that differ only in their
// integer constants (`... WHERE id = 42`, `= 43`): what pgbench -M simple and most ORMs'
// unprepared paths send, which a text-keyed cache misses every time, paying a parse each.
//
// Two steps make that sound. Of scans the text into a shape, refusing anything where its
// lexing could differ from PostgreSQL's, so texts of one shape lex to the same tokens but
// for integer values. Holds then checks, on one statement's parse tree, that every one of
// those integers became a constant value (A_Const) rather than part of the statement's
// structure (FETCH 5, CACHE 5), so the trees differ only in constant values too. A cache
// may then share a result between texts of one shape if, in addition, computing that
// result read no constant's value: that part is each caller's own to establish.
package sqlshape

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Int is where an integer constant starts in the text, and where the minus sign is that
// directly precedes it (-1 if none): the grammar reports a negated constant there.
type Int struct{ At, Minus int }

// Mark stands for an integer constant in a shape. The scan refuses any text that has
// it outside a string literal, and copies literals unchanged, so a mark outside a literal
// can only come from a replaced constant.
const Mark = '$'

// Of returns the query string with every integer constant replaced by Mark, when
// the text is simple enough that this scan and PostgreSQL's lexer provably agree on where
// each integer constant begins and ends: ASCII outside string literals, no backslash (which
// standard_conforming_strings=off would make an escape), no quoted identifiers, no dollar
// quoting or parameters, no comments, and no number that is not a plain run of digits
// (1.5, 1e5, 0x1f and 1_000 all refuse), nor one beyond int4 (the lexer makes those numeric
// constants, which the grammar accepts in fewer places: FETCH 5 parses, FETCH 2147483648
// does not). Two texts with the same shape then lex to the same
// tokens except for the values of integer constants; whether they also parse alike is
// Holds's question.
//
// A text it refuses is simply not shaped: the caller decides it by its exact text.
func Of(sql string) (string, []Int, bool) {
	var (
		b    strings.Builder
		ints []Int
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
			ints = append(ints, Int{At: i, Minus: minusBefore(sql, i)})
			b.WriteByte(Mark)
			i = j
		case c >= 0x80, c == '\\', c == '"', c == Mark, c == 0:
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

// With returns a text of the given shape with every integer n (marks inside string
// literals are the literal's own and stay): for tests that check a cache against fresh
// results for other statements of one shape.
func With(shape, n string) string {
	var b strings.Builder
	quoted := false
	for _, c := range []byte(shape) {
		switch {
		case c == '\'':
			quoted = !quoted
		case c == Mark && !quoted:
			b.WriteString(n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Holds reports whether every integer of the text (as Of found them) is an integer constant
// value in the parse tree of that same text.
func Holds(ints []Int, tree *pg.ParseResult) bool {
	return HoldsAt(ints, IntConstants(tree))
}

// HoldsAt is Holds given the tree's IntConstants.
func HoldsAt(ints []Int, consts []int32) bool {
	has := func(off int) bool { _, ok := slices.BinarySearch(consts, int32(off)); return ok }
	for _, t := range ints {
		if !has(t.At) && (t.Minus < 0 || !has(t.Minus)) {
			return false
		}
	}
	return true
}

// IntConstants returns the sorted offsets of the integer constant values (A_Const holding
// an Integer) anywhere in the tree.
func IntConstants(tree *pg.ParseResult) []int32 {
	var out []int32
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if c, ok := m.Interface().(*pg.A_Const); ok && c.GetIval() != nil {
			out = append(out, c.GetLocation())
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := range l.Len() {
					walk(l.Get(i).Message())
				}
			case fd.Message() != nil && !fd.IsMap():
				walk(v.Message())
			}
			return true
		})
	}
	walk(proto.Message(tree).ProtoReflect())
	slices.Sort(out)
	return out
}
