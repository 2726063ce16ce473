package redirect

import (
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/nodelocal"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/testenv"
)

// Issue 9, acceptance 2: two containers (each a cgroup and its own network namespace with
// a veth to the host) connect at the same time, binding the same source port, 5,000 times
// each; every connection reaches the node-local address and is attributed to its own
// container, never the other.
func TestContainersAttributedUnderConcurrentLoad(t *testing.T) {
	testenv.RequireRoot(t)
	name := fmt.Sprintf("slr%d", os.Getpid()%100000)
	ifc, err := nodelocal.Ensure(nodelocal.Config{Name: name, IPv4: netip.MustParseAddr(fmt.Sprintf("169.254.%d.200", 100+os.Getpid()%100))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nodelocal.Remove(name) })

	f := newFixtureWith(t, func(o *Options) { o.NodeLocal4 = ifc.IPv4 })
	type container struct {
		ns, cg string
		link   *testenv.Link
		id     uint64
	}
	var cs []container
	for _, n := range []string{"a", "b"} {
		ns := testenv.Netns(t, "ct-"+n)
		c := container{ns: ns, link: testenv.Veth(t, "", ns, testenv.VethOptions{}), cg: f.child("", origin.ModeEnforce)}
		c.id = mustID(t, c.cg)
		cs = append(cs, c)
	}

	const each = 5000
	var wg sync.WaitGroup
	results := make([][]string, len(cs))
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The "database" is the host end of the container's own veth: an address this
			// test made, which a connect that escaped the redirect would reach instead.
			dst := netip.AddrPortFrom(c.link.Host4, f.db)
			results[i], errs[i] = clientOutputIn(c.ns, c.cg, dst, each, "sport=40404")
		}()
	}
	wg.Wait()
	for i, c := range cs {
		if errs[i] != nil {
			t.Fatalf("container %d: %v %v", i, errs[i], results[i])
		}
		if len(results[i]) != each {
			t.Fatalf("container %d: %d results, want %d", i, len(results[i]), each)
		}
		want := fmt.Sprintf("got=proxy mode=enforce dest=%s:%d cg=%d ", c.link.Host4, f.db, c.id)
		bad := 0
		for _, line := range results[i] {
			if !strings.Contains(line, want) {
				if bad < 3 {
					t.Errorf("container %d: %q, want %q", i, line, want)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("container %d: %d of %d connections misattributed or failed", i, bad, each)
		}
	}
}

// Issue 9: IPv6 connects from a container are refused when no IPv6 node-local address is
// configured: they can neither reach the proxy nor be let through.
func TestContainerIPv6WithoutNodeAddressRefused(t *testing.T) {
	testenv.RequireRoot(t)
	f := newFixture(t) // no NodeLocal6
	ns := testenv.Netns(t, "ct6")
	link := testenv.Veth(t, "", ns, testenv.VethOptions{IPv6: true})
	cg := f.child("", origin.ModeEnforce)
	out, err := clientOutputIn(ns, cg, netip.AddrPortFrom(link.Host6, f.db), 1)
	if err != nil || len(out) != 1 || out[0] != "err=EPERM" {
		t.Errorf("IPv6 connect from a container without an IPv6 node address: %v %v, want refused", out, err)
	}
}
