// Package pgformat holds the extended protocol's rule for format codes, which Bind states
// for its parameters and its result columns and which both the audit (how a parameter was
// sent) and masking (how a column comes back) must read the same way.
package pgformat

// Binary is the format code of binary values; Text (0) is the other.
const (
	Text   int16 = 0
	Binary int16 = 1
)

// Of returns the format of value i: no codes means all text, one code applies to all,
// otherwise there is one per value.
func Of(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return Text
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return Text
}
