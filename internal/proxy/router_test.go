package proxy

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRouter checks target selection: the longest prefix wins, then a specific port over
// any port; v4-mapped prefixes match plain IPv4 destinations; unclaimed destinations
// match nothing; and two targets claiming one destination are rejected.
func TestRouter(t *testing.T) {
	dest := func(prefix string, port uint16) Destination {
		return Destination{Prefix: netip.MustParsePrefix(prefix), Port: port}
	}
	targets := []Target{
		{Name: "net", Destinations: []Destination{dest("10.0.0.0/8", 0)}},
		{Name: "host", Destinations: []Destination{dest("10.0.0.5/32", 0)}},
		{Name: "host-port", Destinations: []Destination{dest("::ffff:10.0.0.5/128", 5432)}},
		{Name: "v6", Destinations: []Destination{dest("fd00::/64", 5432)}},
	}
	r, err := newRouter(targets)
	if err != nil {
		t.Fatal(err)
	}
	for dst, want := range map[string]string{
		"10.0.0.5:5432":          "host-port",
		"[::ffff:10.0.0.5]:5432": "host-port",
		"10.0.0.5:6432":          "host",
		"10.1.2.3:5432":          "net",
		"[fd00::1]:5432":         "v6",
		"[fd00::1]:5433":         "",
		"192.168.0.1:5432":       "",
		"[fd00:0:0:1::1]:5432":   "",
	} {
		got := ""
		if tg := r.match(netip.MustParseAddrPort(dst)); tg != nil {
			got = tg.Name
		}
		if got != want {
			t.Errorf("%s: target %q, want %q", dst, got, want)
		}
	}

	targets = append(targets, Target{Name: "dup", Destinations: []Destination{dest("10.0.0.5/32", 5432)}})
	if _, err := newRouter(targets); err == nil || !strings.Contains(err.Error(), `"host-port" and "dup"`) {
		t.Fatalf("duplicate destination: %v", err)
	}
}
