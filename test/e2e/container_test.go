package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// Issue 9, acceptance 1 and 3: a "container" (a cgroup and its own network namespace with
// a veth to the host) reaches a database in another namespace directly when enforcement
// is off, and only through sluice's node-local address when it is on: the database then
// sees the agent's address, never the container's. A container with no route to the host
// reaches nothing.
func TestContainerGoesThroughTheNodeLocalAddress(t *testing.T) {
	testenv.RequireRoot(t)
	dbNS := testenv.Netns(t, "db")
	dbLink := testenv.Veth(t, "", dbNS, testenv.VethOptions{Forward: true})
	at := dbLink.Addr4.String()
	w := newWorldWithDB(t, dbPlace{netns: dbNS, listen: at, upstream: at, workload: at})
	ctNS := testenv.Netns(t, "ct")
	ctLink := testenv.Veth(t, "", ctNS, testenv.VethOptions{Forward: true})
	w.startAgent()
	cg := testenv.Cgroup(t, w.root)
	w.enroll(cg, "container-job", 10*time.Minute)

	who := "select current_user || ' ' || host(inet_client_addr())"
	w.mustSluice("enforce", cg, "--mode", "off")
	if out, err := w.psqlIn(ctNS, cg, who); err != nil || out != "workload "+ctLink.Addr4.String() {
		t.Fatalf("container with enforcement off: %q %v, want a direct connection from %s", out, err, ctLink.Addr4)
	}

	w.mustSluice("enforce", cg)
	out, err := w.psqlIn(ctNS, cg, who)
	if err != nil || out != "sluice_app "+dbLink.Host4.String() {
		t.Fatalf("container with enforcement on: %q %v, want the agent's login from %s", out, err, dbLink.Host4)
	}
	st := w.status()
	if st.Counters.Redirected == 0 {
		t.Error("the kernel counted no redirect")
	}
	var sessions int
	for _, s := range w.auditStatements() {
		if strings.Contains(s.Text, "inet_client_addr") {
			sessions++
		}
	}
	if sessions != 1 {
		t.Errorf("audit statement records of the container's enforced session: %d, want 1", sessions)
	}
	log, err := w.db.Log()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(log, "connection received: host="+ctLink.Addr4.String()) != 1 {
		t.Errorf("the database should see the container's address exactly once (the direct, unenforced connection):\n%s", log)
	}

	// A container whose namespace has no route to the host: nothing gets through.
	lonely := testenv.Netns(t, "lonely")
	cg2 := testenv.Cgroup(t, w.root)
	w.enroll(cg2, "lonely-job", 10*time.Minute)
	w.mustSluice("enforce", cg2)
	before, _ := w.db.Log()
	if out, err := w.psqlIn(lonely, cg2, who); err == nil {
		t.Errorf("a container with no route to the host connected: %q", out)
	}
	after, _ := w.db.Log()
	if strings.Count(after, "connection received") != strings.Count(before, "connection received") {
		t.Error("the database received a connection from the unrouted container")
	}
}
