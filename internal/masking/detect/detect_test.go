package detect

import (
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	d := New(Kinds()...)
	for _, c := range []struct {
		text string
		want []Kind
	}{
		{"card 4111 1111 1111 1111 on file", []Kind{Card}},
		{"4012888888881881", []Kind{Card}},
		{"4111111111111112", nil}, // Luhn fails
		{"ssn 123-45-6789.", []Kind{SSN}},
		{"000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000", nil}, // never issued
		{"mail alice.smith+tag@mail.example.co.uk now", []Kind{Email}},
		{"not@an address", nil},
		{"call +1 415-555-0123 or (212) 555 0456", []Kind{Phone, Phone}},
		{"on 2024-01-15 at 10:30:00.123456", nil},
		{"ip 192.168.100.200", nil},
		{"DE89 3704 0044 0532 0130 00", []Kind{IBAN}},
		{"GB82WEST12345698765432", []Kind{IBAN}},
		{"GB82WEST12345698765433", nil}, // mod 97 fails
		{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk", []Kind{JWT}},
		{"key AKIAIOSFODNN7EXAMPLE!", []Kind{AWSKey}},
		{"AKIAIOSFODNN7EXAMPL", nil},
		{"-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", []Kind{PrivateKey}},
		{"-----BEGIN PRIVATE KEY-----\nMIIEvQ truncated", []Kind{PrivateKey}},
		{"-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----", nil},
		{"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 12345 3.14159", nil},
	} {
		var got []Kind
		for _, h := range d.Find([]byte(c.text)) {
			got = append(got, h.Kind)
		}
		if strings.Trim(strings.Join(kindStrings(got), ","), ",") != strings.Join(kindStrings(c.want), ",") {
			t.Errorf("%q: found %v, want %v", c.text, got, c.want)
		}
	}
}

func kindStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.String()
	}
	return out
}

func TestMask(t *testing.T) {
	d := New(Kinds()...)
	for _, c := range []struct{ in, want string }{
		{"card 4111-1111-1111-1111 ok", "card XXXX-XXXX-XXXX-1111 ok"},
		{"ssn 123-45-6789", "ssn XXX-XX-6789"},
		{"to alice@example.com", "to xxxxx@example.com"},
		{"tel +1 415-555-0123", "tel +X XXX-XXX-XXXX"},
		{"GB82WEST12345698765432", "GBXXXXXXXXXXXXXXXX5432"},
		{"id AKIAIOSFODNN7EXAMPLE", "id XXXXXXXXXXXXXXXXXXXX"},
	} {
		got, hit := d.MaskString(c.in)
		if !hit || got != c.want {
			t.Errorf("%q: got %q (%v), want %q", c.in, got, hit, c.want)
		}
		if len(got) != len(c.in) {
			t.Errorf("%q: length changed", c.in)
		}
	}
	if got, hit := d.MaskString("nothing here 12345"); hit || got != "nothing here 12345" {
		t.Errorf("clean text changed: %q", got)
	}
	if _, hit := New(Email).MaskString("ssn 123-45-6789"); hit {
		t.Error("a detector found a kind it was not given")
	}
	if _, err := ParseKind("passport"); err == nil {
		t.Error("unknown kind accepted")
	}
}

// BenchmarkFindClean measures the pre-filter on text with nothing to find, which is what
// most values are.
func BenchmarkFindClean(b *testing.B) {
	d := New(Kinds()...)
	text := []byte("The quick brown fox jumps over the lazy dog; order 42 shipped to Paris on Tuesday.")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if len(d.Find(text)) > 0 {
			b.Fatal("found something")
		}
	}
}
