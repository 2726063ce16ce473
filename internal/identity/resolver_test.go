package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
	"github.com/sluicehq/sluice/internal/testenv"
)

// fixture is a resolver trusting an in-process issuer, with a clock the test moves.
type fixture struct {
	t  testing.TB
	is *testIssuer
	r  *Resolver

	mu  sync.Mutex
	now time.Time
}

func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	testenv.RequireRoot(t)
	f := &fixture{t: t, is: newTestIssuer(t), now: time.Now()}
	f.is.addKey("k", jose.ES256, true)
	ic := f.is.config()
	ic.GroupsClaim = "groups"
	cfg := Config{Issuers: []IssuerConfig{ic}}
	if edit != nil {
		edit(&cfg)
	}
	r, err := NewResolver(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	r.verifier.now = f.clock
	f.r = r
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// token signs a token for sub, valid from the fixture's now for life, with extra claims.
func (f *fixture) token(sub string, life time.Duration, extra map[string]any) string {
	now := f.clock()
	c := f.is.Claims(sub, now)
	c["exp"] = now.Add(life).Unix()
	c["groups"] = []string{"ci"}
	for k, v := range extra {
		c[k] = v
	}
	return f.is.sign("k", c)
}

// mkcgroup creates the cgroup rel below parent (and any missing levels); the test's cgroup
// cleanup removes them with their parent.
func mkcgroup(t testing.TB, parent, rel string) string {
	t.Helper()
	dir := filepath.Join(parent, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func originOf(t testing.TB, dir string) origin.Origin {
	t.Helper()
	id, err := cgroup.ID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return origin.Origin{CgroupID: id, Mode: origin.ModeEnforce}
}

func TestEnroll(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	job := testenv.Cgroup(t, "")
	step := mkcgroup(t, job, "step-1")
	other := testenv.Cgroup(t, "")

	_, err := f.r.Identity(ctx, originOf(t, step))
	want := fmt.Sprintf("cgroup %[1]s has no verified identity; enroll it with: sluice enroll %[1]s --token-file F", cgroup.Name(step))
	if !errors.Is(err, ErrNoIdentity) || err.Error() != want {
		t.Fatalf("before enrollment: %v\nwant %s", err, want)
	}

	en, err := f.r.Enroll(ctx, cgroup.Name(job), f.token("job-42", 10*time.Minute, nil))
	if err != nil {
		t.Fatal(err)
	}
	if jobID, _ := cgroup.ID(job); en.CgroupID != jobID || en.Cgroup != cgroup.Name(job) || en.Identity.Subject != "job-42" {
		t.Errorf("Enroll = %+v", en)
	}
	for _, dir := range []string{job, step} {
		id, err := f.r.Identity(ctx, originOf(t, dir))
		if err != nil || id.Subject != "job-42" || id.Groups[0] != "ci" {
			t.Errorf("Identity(%s) = %+v, %v; want job-42's", cgroup.Name(dir), id, err)
		}
	}
	if _, err := f.r.Identity(ctx, originOf(t, other)); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("a sibling cgroup got an identity: %v", err)
	}

	// A cgroup id works as the reference too, and a bad token changes nothing.
	otherID := originOf(t, other).CgroupID
	if _, err := f.r.Enroll(ctx, fmt.Sprint(otherID), f.token("job-43", time.Minute, nil)); err != nil {
		t.Fatalf("enroll by id: %v", err)
	}
	bad := f.token("job-evil", time.Minute, map[string]any{"aud": "someone-else"})
	if _, err := f.r.Enroll(ctx, cgroup.Name(job), bad); err == nil {
		t.Fatal("a token for another audience was enrolled")
	}
	if id, err := f.r.Identity(ctx, originOf(t, step)); err != nil || id.Subject != "job-42" {
		t.Errorf("after a refused enrollment: %+v, %v; want job-42 unchanged", id, err)
	}
	if got := f.r.Enrollments(); len(got) != 2 || got[0].Cgroup > got[1].Cgroup {
		t.Errorf("Enrollments = %+v", got)
	}

	for ref, want := range map[string]string{
		"/":                          "root cgroup",
		"/sluice-no-such-cgroup":     "no such file",
		"../etc":                     `".." is not allowed`,
		"18446744073709551615":       "no longer exists",
		cgroup.Name(job) + "/../etc": `".." is not allowed`,
	} {
		if _, err := f.r.Enroll(ctx, ref, f.token("x", time.Minute, nil)); err == nil || !strings.Contains(err.Error(), want) && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Enroll(%q) = %v, want an error about %q", ref, err, want)
		}
	}

	if err := f.r.Unenroll(cgroup.Name(job)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Identity(ctx, originOf(t, step)); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("after Unenroll: %v", err)
	}
	if err := f.r.Unenroll(cgroup.Name(job)); err == nil {
		t.Error("unenrolling twice succeeded")
	}
}

// TestJustInTime follows a session through its token's life: a refreshed token keeps it going,
// expiry ends it, and a different holder ends it.
func TestJustInTime(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	job := testenv.Cgroup(t, "")
	o := originOf(t, job)
	name := cgroup.Name(job)
	if _, err := f.r.Enroll(ctx, name, f.token("job", time.Minute, nil)); err != nil {
		t.Fatal(err)
	}
	cur, err := f.r.Identity(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	f.advance(30 * time.Second)
	if cur, err = f.r.Continue(ctx, o, cur); err != nil {
		t.Fatalf("within the token's life: %v", err)
	}
	// The CI hook re-enrolls with a fresh token before the first one expires.
	if _, err := f.r.Enroll(ctx, name, f.token("job", 2*time.Minute, nil)); err != nil {
		t.Fatal(err)
	}
	f.advance(time.Minute) // past the first token's expiry
	next, err := f.r.Continue(ctx, o, cur)
	if err != nil || !next.Expiry.After(cur.Expiry) {
		t.Fatalf("after re-enrollment: %+v, %v; want the later expiry", next, err)
	}
	cur = next
	f.advance(2 * time.Minute)
	_, err = f.r.Continue(ctx, o, cur)
	if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "re-enroll it with: sluice enroll "+name) {
		t.Fatalf("after expiry: %v, want ErrExpired naming the enroll command", err)
	}
	if _, err := f.r.Enroll(ctx, name, f.token("job", -time.Second, nil)); !errors.Is(err, ErrExpired) {
		t.Errorf("enrolling an expired token: %v", err)
	}
	f.r.Prune()
	if got := f.r.Enrollments(); len(got) != 0 {
		t.Errorf("expired enrollment not pruned: %+v", got)
	}

	if _, err := f.r.Enroll(ctx, name, f.token("job", time.Minute, nil)); err != nil {
		t.Fatal(err)
	}
	if cur, err = f.r.Identity(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Enroll(ctx, name, f.token("someone-else", time.Minute, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Continue(ctx, o, cur); !errors.Is(err, ErrIdentityChanged) {
		t.Errorf("after re-enrollment as someone else: %v, want ErrIdentityChanged", err)
	}
}

// TestEnrollmentEndsWithCgroup checks that removing the cgroup ends its enrollment.
func TestEnrollmentEndsWithCgroup(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	job := mkcgroup(t, testenv.Cgroup(t, ""), "job")
	o := originOf(t, job)
	if _, err := f.r.Enroll(ctx, cgroup.Name(job), f.token("job", time.Hour, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.r.Identity(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(job); err != nil {
		t.Fatal(err)
	}
	f.r.Prune()
	if got := f.r.Enrollments(); len(got) != 0 {
		t.Errorf("enrollment of a removed cgroup survived Prune: %+v", got)
	}
	if _, err := f.r.Identity(ctx, o); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Identity of a removed cgroup: %v", err)
	}
}

// writeToken replaces a token file the way the kubelet does: a new file renamed over the old.
func writeToken(t testing.TB, file, token string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}

// TestKubernetes binds a pod's cgroup to its projected token, follows the kubelet's rotation,
// and refuses tokens of other pods and pods outside the kubelet's hierarchy.
func TestKubernetes(t *testing.T) {
	node := testenv.Cgroup(t, "") // stands for the kubelet's cgroup root
	tokens := t.TempDir()
	f := newFixture(t, func(c *Config) {
		c.Kubernetes = &KubernetesConfig{
			TokenPath:       tokens + "/pods/{pod_uid}/volumes/kubernetes.io~projected/sluice/token",
			KubeletPrefixes: []string{cgroup.Name(node)},
		}
	})
	ctx := context.Background()
	ctr := mkcgroup(t, node, "kubepods/besteffort/pod"+uid+"/"+cid)
	o := originOf(t, ctr)
	file := filepath.Join(tokens, "pods", uid, "volumes/kubernetes.io~projected/sluice/token")
	podClaims := func(pod string) map[string]any {
		return map[string]any{"kubernetes.io": map[string]any{"namespace": "ci", "pod": map[string]any{"name": "runner-0", "uid": pod}}}
	}

	if _, err := f.r.Identity(ctx, o); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "pod "+uid) {
		t.Errorf("before the kubelet wrote the token: %v", err)
	}
	writeToken(t, file, f.token("system:serviceaccount:ci:runner", time.Hour, podClaims(uid)))
	f.advance(DefaultFileRecheck) // the failed check above is cached for the recheck interval
	first, err := f.r.Identity(ctx, o)
	if err != nil || first.Subject != "system:serviceaccount:ci:runner" {
		t.Fatalf("pod identity: %+v, %v", first, err)
	}
	if name, w, err := f.r.Workload(o); err != nil || w.PodUID != uid || w.ContainerID != cid || name != cgroup.Name(ctr) {
		t.Errorf("Workload = %s %+v %v", name, w, err)
	}

	// Rotation: seen after the recheck interval, not before.
	f.advance(time.Second)
	writeToken(t, file, f.token("system:serviceaccount:ci:runner", time.Hour, podClaims(uid)))
	if id, _ := f.r.Identity(ctx, o); id.TokenID != first.TokenID {
		t.Errorf("the file was re-read before the recheck interval")
	}
	f.advance(DefaultFileRecheck)
	rotated, err := f.r.Continue(ctx, o, first)
	if err != nil || rotated.TokenID == first.TokenID {
		t.Fatalf("after rotation: %+v, %v; want the new token", rotated, err)
	}

	// An expired token is rechecked at once, so a late rotation is picked up without waiting.
	writeToken(t, file, f.token("system:serviceaccount:ci:runner", time.Minute, podClaims(uid)))
	f.advance(DefaultFileRecheck)
	if _, err := f.r.Identity(ctx, o); err != nil {
		t.Fatal(err)
	}
	f.advance(2 * time.Minute)
	if _, err := f.r.Identity(ctx, o); !errors.Is(err, ErrExpired) {
		t.Errorf("expired pod token: %v", err)
	}
	writeToken(t, file, f.token("system:serviceaccount:ci:runner", time.Hour, podClaims(uid)))
	if _, err := f.r.Identity(ctx, o); err != nil {
		t.Errorf("rotated after expiry: %v", err)
	}

	// A token of another pod in this pod's file (a wrong template, a tampered volume).
	f.advance(DefaultFileRecheck)
	writeToken(t, file, f.token("system:serviceaccount:ci:admin", time.Hour, podClaims(uid2)))
	f.advance(DefaultFileRecheck)
	if _, err := f.r.Identity(ctx, o); err == nil || !strings.Contains(err.Error(), "bound to pod "+uid2) {
		t.Errorf("another pod's token: %v", err)
	}
	f.advance(DefaultFileRecheck)
	writeToken(t, file, f.token("system:serviceaccount:ci:runner", time.Hour, nil))
	f.advance(DefaultFileRecheck)
	if _, err := f.r.Identity(ctx, o); err == nil || !strings.Contains(err.Error(), "bound to pod <nil>") {
		t.Errorf("a token bound to no pod: %v", err)
	}

	// A pod-shaped subtree grown inside a pod's container is refused outright.
	forged := mkcgroup(t, ctr, "kubepods/besteffort/pod"+uid2+"/"+cid2)
	if _, err := f.r.Identity(ctx, originOf(t, forged)); err == nil || !strings.Contains(err.Error(), "nested kubelet") {
		t.Errorf("forged nested pod: %v", err)
	}

	// An enrollment outranks the pod's token.
	if _, err := f.r.Enroll(ctx, cgroup.Name(ctr), f.token("enrolled", time.Hour, nil)); err != nil {
		t.Fatal(err)
	}
	if id, err := f.r.Identity(ctx, o); err != nil || id.Subject != "enrolled" {
		t.Errorf("enrolled pod container: %+v, %v", id, err)
	}
}

// TestKubeletPrefix refuses a pod identity for a kubepods-shaped subtree outside the
// configured kubelet prefixes, as any cgroup with delegation could build one.
func TestKubeletPrefix(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Kubernetes = &KubernetesConfig{TokenPath: t.TempDir() + "/{pod_uid}/token"}
	})
	job := testenv.Cgroup(t, "")
	forged := mkcgroup(t, job, "kubepods/besteffort/pod"+uid+"/"+cid)
	_, err := f.r.Identity(context.Background(), originOf(t, forged))
	if err == nil || !strings.Contains(err.Error(), "not a trusted kubelet prefix") {
		t.Errorf("pod under %s: %v", cgroup.Name(job), err)
	}
}

// TestProcCgroupOfRealProcess attributes a process from what the kernel writes in
// /proc/PID/cgroup for it.
func TestProcCgroupOfRealProcess(t *testing.T) {
	testenv.RequireRoot(t)
	node := testenv.Cgroup(t, "")
	ctr := mkcgroup(t, node, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"+uidU+".slice/cri-containerd-"+cid+".scope")
	cmd := exec.Command("sleep", "1000")
	testenv.Start(t, ctr, cmd)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	content, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	w, err := AttributeProcCgroup(string(content))
	want := Workload{ContainerID: cid, Runtime: RuntimeContainerd, PodUID: uid, QoS: QoSBurstable, KubeletPrefix: cgroup.Name(node)}
	if err != nil || w != want {
		t.Errorf("AttributeProcCgroup(%q) = %+v, %v; want %+v", content, w, err, want)
	}
}

// TestStatic binds systemd-service-like cgroups to a token file by pattern.
func TestStatic(t *testing.T) {
	root := testenv.Cgroup(t, "")
	file := filepath.Join(t.TempDir(), "etl.token")
	f := newFixture(t, func(c *Config) {
		c.Static = []StaticConfig{{Cgroup: cgroup.Name(root) + "/etl-*.service", TokenFile: file}}
	})
	ctx := context.Background()
	sub := mkcgroup(t, root, "etl-nightly.service/worker")
	o := originOf(t, sub)
	writeToken(t, file, f.token("etl", time.Hour, map[string]any{"aud": "other"}))
	if _, err := f.r.Identity(ctx, o); err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "static rule") {
		t.Errorf("bad token in the file: %v", err)
	}
	writeToken(t, file, f.token("etl", time.Hour, nil))
	f.advance(DefaultFileRecheck)
	if id, err := f.r.Identity(ctx, o); err != nil || id.Subject != "etl" {
		t.Errorf("static binding of a child cgroup: %+v, %v", id, err)
	}
	if _, err := f.r.Identity(ctx, originOf(t, mkcgroup(t, root, "web.service"))); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("a cgroup no rule matches: %v", err)
	}
}
