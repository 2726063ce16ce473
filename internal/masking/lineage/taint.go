package lineage

import "math/bits"

// MaxRules is how many masking rules a Set can name. Sets are fixed-size values so that
// taints combine without allocating while a statement is analysed.
const MaxRules = 256

// Set is a set of masking rules, by index in the rule set.
type Set [MaxRules / 64]uint64

// SetOf returns the set holding the given rule indexes.
func SetOf(rules ...int) Set {
	var s Set
	for _, r := range rules {
		s.Add(r)
	}
	return s
}

// Add puts rule i in the set.
func (s *Set) Add(i int) { s[i/64] |= 1 << (i % 64) }

// Has reports whether rule i is in the set.
func (s Set) Has(i int) bool { return s[i/64]&(1<<(i%64)) != 0 }

// Or returns the union.
func (s Set) Or(o Set) Set {
	for i := range s {
		s[i] |= o[i]
	}
	return s
}

// And returns the intersection.
func (s Set) And(o Set) Set {
	for i := range s {
		s[i] &= o[i]
	}
	return s
}

// Minus returns the rules of s that are not in o.
func (s Set) Minus(o Set) Set {
	for i := range s {
		s[i] &^= o[i]
	}
	return s
}

// Empty reports whether the set holds no rule.
func (s Set) Empty() bool { return s == Set{} }

// Each calls f for every rule in the set, in increasing order.
func (s Set) Each(f func(int)) {
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			f(w*64 + b)
			word &^= 1 << b
		}
	}
}

// First returns the lowest rule index in the set, or -1.
func (s Set) First() int {
	for w, word := range s {
		if word != 0 {
			return w*64 + bits.TrailingZeros64(word)
		}
	}
	return -1
}

// Taint is what a value may carry: masked columns unchanged (Direct), or values computed
// from masked columns (Derived). The zero Taint is clean.
type Taint struct {
	// Direct rules: the value may be a column masked by one of these rules, passed through
	// as a plain column reference, so PostgreSQL reports that column as its origin.
	Direct Set
	// Derived rules: the value may have been computed from a column masked by one of these
	// rules; no origin identifies it.
	Derived Set
}

// Clean reports whether the value carries nothing masked.
func (t Taint) Clean() bool { return t.Direct.Empty() && t.Derived.Empty() }

// Or returns the union of two taints.
func (t Taint) Or(o Taint) Taint {
	return Taint{Direct: t.Direct.Or(o.Direct), Derived: t.Derived.Or(o.Derived)}
}

// Derive returns the taint of a value computed from t: every rule becomes derived.
func (t Taint) Derive() Taint { return Taint{Derived: t.Direct.Or(t.Derived)} }

// All returns every rule of the taint, direct or derived.
func (t Taint) All() Set { return t.Direct.Or(t.Derived) }

// Without drops the rules in cleared (an identity that may see them in clear).
func (t Taint) Without(cleared Set) Taint {
	return Taint{Direct: t.Direct.Minus(cleared), Derived: t.Derived.Minus(cleared)}
}
