package redirect

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/testenv"
)

func ap(s string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(s), port)
}

// Acceptance 1: IPv4, IPv6 and v4-mapped connects from an enforced cgroup arrive at the
// proxy with their origin, and getpeername shows the original address, whichever way the
// connect is made: plainly, with TCP Fast Open, through io_uring, or by a Multipath TCP
// socket (whose connect the kernel makes with a TCP subflow of its own).
func TestEnforcedConnectsReachProxyWithOrigin(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	id := mustID(t, cg)
	for _, tc := range []struct {
		name string
		dst  netip.AddrPort
		want string // Origin.Dest as the proxy reports it
		how  string // the client's way of connecting (clientMain)
	}{
		{"ipv4", ap("127.0.0.2", f.db), "127.0.0.2", ""},
		{"ipv6", ap("::1", f.db), "::1", ""},
		{"v4-mapped", ap("::ffff:127.0.0.2", f.db), "127.0.0.2", ""},
		{"tcp-fast-open", ap("127.0.0.2", f.db), "127.0.0.2", "tfo"},
		{"io_uring", ap("127.0.0.2", f.db), "127.0.0.2", "uring"},
		{"io_uring-worker", ap("127.0.0.2", f.db), "127.0.0.2", "uring-async"},
		{"io_uring-worker-ipv6", ap("::1", f.db), "::1", "uring-async"},
		{"io_uring-sqpoll", ap("127.0.0.2", f.db), "127.0.0.2", "uring-sqpoll"},
		{"mptcp", ap("127.0.0.2", f.db), "127.0.0.2", "mptcp"},
		{"mptcp-ipv6", ap("::1", f.db), "::1", "mptcp"},
		{"mptcp-v4-mapped", ap("::ffff:127.0.0.2", f.db), "127.0.0.2", "mptcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []string
			if tc.how != "" {
				extra = []string{tc.how}
			}
			line := f.connect(cg, tc.dst, 1, extra...)[0]
			if tc.how == "mptcp" && (line == "err=socket-EPROTONOSUPPORT" || line == "err=socket-ENOPROTOOPT") {
				t.Skipf("this kernel makes no Multipath TCP sockets (%s), so there is none to redirect", line)
			}
			m := regexp.MustCompile(`^pid=(\d+) peer=(\S+) got=proxy mode=enforce dest=(\S+) cg=(\d+) pid=(\d+)$`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("connect to %s: got %q, want it at the proxy with an origin", tc.dst, line)
			}
			if m[2] != tc.dst.String() {
				t.Errorf("getpeername = %s, want the original %s", m[2], tc.dst)
			}
			if want := netip.AddrPortFrom(netip.MustParseAddr(tc.want), f.db).String(); m[3] != want {
				t.Errorf("origin destination = %s, want %s", m[3], want)
			}
			if m[4] != fmt.Sprint(id) {
				t.Errorf("origin cgroup id = %s, want %d", m[4], id)
			}
			if m[1] != m[5] {
				t.Errorf("origin pid = %s, want the client's pid %s", m[5], m[1])
			}
		})
	}
}

// Acceptance 2 and 4: siblings without a mode connect directly; children inherit the
// nearest explicit mode; an explicit "off" below an enforced cgroup wins; the exempt cgroup
// is never redirected, even below an enforced one.
func TestModeInheritanceAndExemption(t *testing.T) {
	f := newFixture(t)
	enforced := f.child("", origin.ModeEnforce)
	sibling := f.child("", origin.ModeUnset)
	grandchild := f.child(f.child(enforced, origin.ModeUnset), origin.ModeUnset)
	off := f.child(enforced, origin.ModeOff)
	exempt := f.child(enforced, origin.ModeUnset)
	if err := f.r.Exempt(exempt); err != nil {
		t.Fatal(err)
	}
	exemptChild := f.child(exempt, origin.ModeUnset)
	dst := ap("127.0.0.2", f.db)
	for _, tc := range []struct {
		name, cg, want string
	}{
		{"sibling", sibling, "direct"},
		{"enforced", enforced, "proxy mode=enforce"},
		{"grandchild of enforced", grandchild, "proxy mode=enforce"},
		{"explicit off below enforced", off, "direct"},
		{"exempt below enforced", exempt, "direct"},
		{"child of exempt", exemptChild, "direct"},
	} {
		if got := f.connect(tc.cg, dst, 1)[0]; !strings.Contains(got, "got="+tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if err := f.r.SetMode(exempt, origin.ModeEnforce); err == nil {
		t.Error("SetMode changed the exempt cgroup")
	}
	if err := f.r.SetMode(exempt, origin.ModeExempt); err == nil {
		t.Error("SetMode accepted ModeExempt")
	}
}

// Acceptance 3: while a loop connects, enforce -> audit -> off -> enforce; each connect
// follows the mode in force at its time.
func TestModeSwitchUnderLoad(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	dst := ap("127.0.0.2", f.db)

	// A free-running client: its results must be ordered like the switches.
	var (
		wg      sync.WaitGroup
		loopOut []string
		loopErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		loopOut, loopErr = clientOutput(cg, dst, 3000)
	}()
	// Stepwise: after each switch, every new connect must follow it exactly.
	for _, step := range []struct {
		mode origin.Mode
		want string
	}{
		{origin.ModeEnforce, "got=proxy mode=enforce"},
		{origin.ModeAudit, "got=proxy mode=audit"},
		{origin.ModeOff, "got=direct"},
		{origin.ModeEnforce, "got=proxy mode=enforce"},
	} {
		f.setMode(cg, step.mode)
		for _, line := range f.connect(cg, dst, 20) {
			if !strings.Contains(line, step.want) {
				t.Fatalf("mode %s: got %q, want %q", step.mode, line, step.want)
			}
		}
	}
	wg.Wait()
	if loopErr != nil {
		t.Fatalf("loop client: %v %v", loopErr, loopOut)
	}
	// Encode the loop's results and check the order: enforce* audit* direct* enforce*.
	var seq strings.Builder
	for _, line := range loopOut {
		switch {
		case strings.Contains(line, "got=proxy mode=enforce"):
			seq.WriteByte('E')
		case strings.Contains(line, "got=proxy mode=audit"):
			seq.WriteByte('A')
		case strings.Contains(line, "got=direct"):
			seq.WriteByte('D')
		default:
			t.Fatalf("loop connect failed: %q", line)
		}
	}
	t.Logf("loop results in order (E enforce, A audit, D direct): %s", runLengths(seq.String()))
	if !regexp.MustCompile(`^E*A*D*E*$`).MatchString(seq.String()) {
		t.Errorf("loop results out of order with the switches: %s", seq.String())
	}
}

// Acceptance 5: other ports, and destinations outside the configured CIDRs, pass untouched.
func TestPortsAndCIDRsSelectDestinations(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	other := serveDirect(t)
	if got := f.connect(cg, ap("127.0.0.2", other), 1)[0]; !strings.Contains(got, "got=direct") {
		t.Errorf("port outside the set: got %q, want direct", got)
	}

	f.opts.CIDRs = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("fd00::/8")}
	f.r.Close()
	f.open()
	for _, tc := range []struct {
		dst  netip.AddrPort
		want string
	}{
		{ap("127.0.0.2", f.db), "got=proxy"},        // inside the IPv4 CIDR
		{ap("::ffff:127.0.0.2", f.db), "got=proxy"}, // v4-mapped uses the IPv4 CIDRs
		{ap("::1", f.db), "got=direct"},             // outside the IPv6 CIDR
	} {
		if got := f.connect(cg, tc.dst, 1)[0]; !strings.Contains(got, tc.want) {
			t.Errorf("%s with CIDRs: got %q, want %q", tc.dst, got, tc.want)
		}
	}
	// 127.0.0.3 is outside 127.0.0.2/32, so it is not redirected and reaches nothing.
	if got := f.connect(cg, ap("127.0.0.3", f.db), 1)[0]; got != "err=ECONNREFUSED" {
		t.Errorf("127.0.0.3 outside the CIDRs: got %q, want a direct (refused) connect", got)
	}
}

// Acceptance 6: with the agent gone, enforced connects are refused, never direct; a second
// Open reuses the pins and the modes are intact.
func TestAgentDownFailsClosedAndRestartKeepsModes(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	audited := f.child("", origin.ModeAudit)
	before := f.r.mustModes(t)

	f.stopProxy()
	if err := f.r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []netip.AddrPort{ap("127.0.0.2", f.db), ap("::1", f.db), ap("::ffff:127.0.0.2", f.db)} {
		for _, c := range []string{cg, audited} {
			if got := f.connect(c, dst, 1)[0]; got != "err=EPERM" {
				t.Errorf("agent down, %s: got %q, want the connect refused", dst, got)
			}
		}
	}

	f.open()
	if after := f.r.mustModes(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("modes after reopen = %v, want %v", after, before)
	}
	f.startProxy()
	if got := f.connect(cg, ap("127.0.0.2", f.db), 1)[0]; !strings.Contains(got, "got=proxy mode=enforce") {
		t.Errorf("after reopen: got %q", got)
	}
}

func (r *Redirect) mustModes(t *testing.T) []CgroupMode {
	t.Helper()
	m, err := r.Modes()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Acceptance 7: 10,000 connect/close cycles leave the origin maps (near) empty.
func TestOriginMapsDrain(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	for _, line := range f.connect(cg, ap("127.0.0.2", f.db), 10000) {
		if !strings.Contains(line, "got=proxy") {
			t.Fatalf("connect failed: %q", line)
		}
	}
	s, err := f.r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Redirected < 10000 {
		t.Errorf("redirected counter = %d, want >= 10000", s.Redirected)
	}
	if s.Origins > 10 || s.Tuples > 10 {
		t.Errorf("after 10,000 closed connections: %d origins, %d tuples left", s.Origins, s.Tuples)
	}
}

// Acceptance 8: a listener that is not the agent's, bound on the proxy port, never
// receives a redirect: the connect is refused instead.
func TestSquatterOnProxyPortGetsNothing(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	f.stopProxy()
	squatted := make(chan string, 10)
	for _, addr := range []string{"127.0.0.1", "[::1]"} {
		ln, err := netListen(addr, f.opts.ProxyPort)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				squatted <- c.RemoteAddr().String()
				c.Close()
			}
		}()
	}
	for _, dst := range []netip.AddrPort{ap("127.0.0.2", f.db), ap("::1", f.db), ap("::ffff:127.0.0.2", f.db)} {
		if got := f.connect(cg, dst, 1)[0]; got != "err=EPERM" {
			t.Errorf("%s with a squatter on the proxy port: got %q, want refused", dst, got)
		}
	}
	select {
	case from := <-squatted:
		t.Errorf("the squatter received a connection from %s", from)
	default:
	}
	s, err := f.r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Refused < 3 {
		t.Errorf("refused counter = %d, want >= 3", s.Refused)
	}
}

// A direct connection to the proxy port carries no origin: the proxy must refuse it.
func TestDirectConnectionToProxyHasNoOrigin(t *testing.T) {
	f := newFixture(t)
	cg := f.child("", origin.ModeEnforce)
	got := f.connect(cg, ap("127.0.0.1", f.opts.ProxyPort), 1)[0]
	if !strings.Contains(got, "lookup="+origin.ErrNotFound.Error()) {
		t.Errorf("direct connect to the proxy port: got %q, want no origin", got)
	}
}

// Modes can only be set inside the attach root, where the programs run.
func TestSetModeOutsideRootRefused(t *testing.T) {
	f := newFixture(t)
	outside := t.TempDir() // not a cgroup at all
	if err := f.r.SetMode(outside, origin.ModeEnforce); err == nil {
		t.Error("SetMode accepted a path that is not a cgroup")
	}
	if err := f.r.SetMode("/", origin.ModeEnforce); err == nil {
		t.Error("SetMode accepted the machine's root cgroup, outside the test attach root")
	}
}

// runLengths compresses "EEEAAD" to "E3 A2 D1" for the log.
func runLengths(s string) string {
	var out []string
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == s[i] {
			j++
		}
		out = append(out, fmt.Sprintf("%c%d", s[i], j-i))
		i = j
	}
	return strings.Join(out, " ")
}

// sockops runs on every TCP event of the cgroups below its attach point, so it is attached
// only at cgroups that redirect. Tries to break that: a redirecting child of a redirecting
// cgroup (both links run; a double publish would mark the tuple ambiguous), a switch off
// (the link goes after the grace), a restart (links are reused, not duplicated), and a
// cgroup that never redirected (no link, and its connects still pass).
func TestSockopsOnlyWhereRedirecting(t *testing.T) {
	f := newFixture(t)
	dst := ap("127.0.0.2", f.db)
	parent := f.child("", origin.ModeEnforce)
	nested := f.child(parent, origin.ModeAudit)
	plain := f.child("", origin.ModeUnset)
	pinned := func(cg string) bool {
		_, err := os.Stat(f.r.trackPin(mustID(t, cg)))
		return err == nil
	}
	if !pinned(parent) || !pinned(nested) || pinned(plain) {
		t.Fatalf("sockops pins: parent %v nested %v plain %v; want true true false", pinned(parent), pinned(nested), pinned(plain))
	}
	if _, err := os.Stat(filepath.Join(f.opts.PinDir, "link_sockops")); err == nil {
		t.Error("a root sockops link is pinned")
	}
	before, err := f.r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range f.connect(nested, dst, 50) {
		if !strings.Contains(line, "got=proxy mode=audit") {
			t.Fatalf("nested redirecting cgroup: %q", line)
		}
	}
	if got := f.connect(plain, dst, 1)[0]; !strings.Contains(got, "got=direct") {
		t.Errorf("cgroup with no mode: %q", got)
	}
	after, err := f.r.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if after.Ambiguous != before.Ambiguous {
		t.Errorf("nested links marked %d tuples ambiguous", after.Ambiguous-before.Ambiguous)
	}

	// A restart keeps one link per cgroup, running the new program.
	if err := f.r.Close(); err != nil {
		t.Fatal(err)
	}
	f.open()
	links, err := sluiceLinks()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(links, "\n"), "sluice_sockops"); n != 2 {
		t.Errorf("after restart %d sockops links, want 2: %v", n, links)
	}
	if got := f.connect(parent, dst, 1)[0]; !strings.Contains(got, "got=proxy mode=enforce") {
		t.Errorf("after restart: %q", got)
	}

	// Switched off, the cgroup loses its link after the grace and connects go direct.
	// (The kernel may free a released link a moment after its last reference is gone:
	// slow emulated machines show it, so the check waits for both.)
	f.setMode(nested, origin.ModeOff)
	f.setMode(parent, origin.ModeUnset)
	attached := func() bool {
		links, err := sluiceLinks()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(strings.Join(links, "\n"), "sluice_sockops")
	}
	deadline := time.Now().Add(5 * trackGrace)
	for (pinned(parent) || pinned(nested) || attached()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if pinned(parent) || pinned(nested) {
		t.Fatal("sockops links still pinned after the cgroups stopped redirecting")
	}
	if links, _ := sluiceLinks(); strings.Contains(strings.Join(links, "\n"), "sluice_sockops") {
		t.Errorf("sockops still attached: %v", links)
	}
	if got := f.connect(nested, dst, 1)[0]; !strings.Contains(got, "got=direct") {
		t.Errorf("after switching off: %q", got)
	}
	// And back on: the link is there before the first redirected connect.
	f.setMode(parent, origin.ModeEnforce)
	if got := f.connect(parent, dst, 1)[0]; !strings.Contains(got, "got=proxy mode=enforce") {
		t.Errorf("enforced again: %q", got)
	}
}

// A workload leaves an enforced cgroup only where the kernel lets its user move processes.
// Below no delegation, its move is refused and its connects stay redirected. Inside a
// subtree delegated to its user, enforcing a cgroup below the delegation root does not
// hold: the workload moves to a sibling and connects directly. cgroup.Delegated reports
// exactly that case (the agent warns with it), and enforcing the delegation root it names
// covers the sibling too.
func TestEscapeByMovingCgroup(t *testing.T) {
	const nobody = 65534
	f := newFixture(t)
	dst := ap("127.0.0.2", f.db)
	try := func(from, to string) (move, connect string) {
		t.Helper()
		out := f.connect(from, dst, 1, "as="+strconv.Itoa(nobody), "move="+to)
		if len(out) != 2 {
			t.Fatalf("client output %q", out)
		}
		return out[0], out[1]
	}

	enforced := f.child("", origin.ModeEnforce)
	sibling := f.child("", origin.ModeUnset)
	if _, ok, err := cgroup.Delegated(enforced); err != nil || ok {
		t.Fatalf("Delegated(undelegated) = %v, %v", ok, err)
	}
	move, got := try(enforced, sibling)
	if move != "move=EACCES" || !strings.Contains(got, "got=proxy mode=enforce") {
		t.Errorf("undelegated: %s, then %q; want the move refused and the connect redirected", move, got)
	}

	delegated := f.child("", origin.ModeUnset)
	job := f.child(delegated, origin.ModeEnforce)
	other := f.child(delegated, origin.ModeUnset)
	testenv.DelegateCgroup(t, delegated, nobody)
	d, ok, err := cgroup.Delegated(job)
	if err != nil || !ok || d.Root != delegated || d.UID != nobody {
		t.Fatalf("Delegated(job) = %+v, %v, %v; want root %s, uid %d", d, ok, err, delegated, nobody)
	}
	move, got = try(job, other)
	if move != "move=ok" || !strings.Contains(got, "got=direct") {
		t.Errorf("enforced below the delegation: %s, then %q; want the escape this test documents", move, got)
	}
	move, got = try(job, f.root)
	if move != "move=EACCES" {
		t.Errorf("leaving the delegated subtree: %s, then %q; want the move refused", move, got)
	}

	f.setMode(delegated, origin.ModeEnforce)
	move, got = try(job, other)
	if move != "move=ok" || !strings.Contains(got, "got=proxy mode=enforce") {
		t.Errorf("delegation root enforced: %s, then %q; want the connect redirected wherever it moved", move, got)
	}
}
