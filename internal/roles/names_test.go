package roles

import (
	"strings"
	"testing"
)

// TestPrefixesKeepAgentsApart: an agent's clean-up can only ever claim names made with its
// own prefix, even when another agent's prefix starts with it.
func TestPrefixesKeepAgentsApart(t *testing.T) {
	a, b := DefaultPrefix("node-a"), DefaultPrefix("node-a_b")
	if err := checkPrefix(a); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		name := newRoleName(b)
		if ownRole(a, name) {
			t.Fatalf("%s's clean-up would claim %s of another agent", a, name)
		}
		if !ownRole(b, name) || len(name) > maxIdentifier {
			t.Fatalf("%s does not recognise its own role %s, or it is too long", b, name)
		}
	}
	// The prefix whose extension is hex-like: the '_' still separates them.
	short, long := "sluice_x_", "sluice_x_0123456789abcdef_"
	if ownRole(short, newRoleName(long)) {
		t.Fatal("a prefix claims the roles of a longer prefix")
	}
	if DefaultPrefix("Node.One") == DefaultPrefix("node_one") {
		t.Fatal("two node names made alike by sanitising share a prefix")
	}
	long64 := DefaultPrefix(strings.Repeat("very-long-node-name-", 10))
	if err := checkPrefix(long64); err != nil {
		t.Fatalf("default prefix of a long node name: %v", err)
	}
}

// TestCheckPrefix refuses prefixes that could collide, be reserved, or overflow names.
func TestCheckPrefix(t *testing.T) {
	for _, bad := range []string{"", "sluice", "Sluice_", "1sluice_", "sluice-a_", "pg_sluice_", `sl"uice_`, "s" + strings.Repeat("x", 46) + "_"} {
		if checkPrefix(bad) == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

// TestRandomSecrets: names and passwords do not repeat and passwords carry 256 bits.
func TestRandomSecrets(t *testing.T) {
	names, passwords := map[string]bool{}, map[string]bool{}
	for range 1000 {
		names[newRoleName("p_")] = true
		pw := newPassword()
		if len(pw) != 43 {
			t.Fatalf("password %q is not 32 bytes in base64", pw)
		}
		passwords[pw] = true
	}
	if len(names) != 1000 || len(passwords) != 1000 {
		t.Fatalf("%d distinct names, %d distinct passwords of 1000", len(names), len(passwords))
	}
	v1, err1 := scramVerifier("same")
	v2, err2 := scramVerifier("same")
	if err1 != nil || err2 != nil || v1 == v2 {
		t.Fatalf("two verifiers of one password must differ by their salt: %q %q %v %v", v1, v2, err1, err2)
	}
}
