package masking

import "testing"

// TestStringMaskShapes pins what partial and email masking make of strings, ASCII (masked
// in bulk) and not (character by character) alike: one mask character per character, the
// kept characters as they were, after whatever dst already held.
func TestStringMaskShapes(t *testing.T) {
	f := newFactory(nil, nil)
	for _, c := range []struct {
		first, last int
		in, want    string
	}{
		{0, 4, "078-05-1120", "XXXXXXX1120"},
		{0, 4, "1120", "XXXX"}, // no longer than what is kept: masked whole
		{0, 4, "", ""},
		{1, 2, "abcdefgh", "aXXXXXgh"},
		{1, 2, "Ünïcödé string", "ÜXXXXXXXXXXXng"},
		{0, 2, "ab€cd", "XXXcd"},
		{2, 0, "ab€", "abX"},
	} {
		m, err := f.partialMasker(&Rule{Name: "p", Strategy: Partial, KeepFirst: c.first, KeepLast: c.last}, column{cls: classString})
		if err != nil {
			t.Fatal(err)
		}
		if got, null := m([]byte("prefix:"), []byte(c.in)); null || string(got) != "prefix:"+c.want {
			t.Errorf("partial %d/%d of %q = %q (null %v), want %q", c.first, c.last, c.in, got, null, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"ada@lovelace.example", "xxx@lovelace.example"},
		{"not an address", "xxxxxxxxxxxxxx"},
		{"@lead", "xxxxx"},
		{"a@b@c.example", "xxx@c.example"},
		{"ünï@x.example", "xxx@x.example"},
		{"", ""},
	} {
		if got, null := emailMasker([]byte("prefix:"), []byte(c.in)); null || string(got) != "prefix:"+c.want {
			t.Errorf("email of %q = %q (null %v), want %q", c.in, got, null, c.want)
		}
	}
}
