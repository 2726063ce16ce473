package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/origin"
)

// podUIDClaim is where a Kubernetes service-account token names the pod it is bound to.
const podUIDClaim = "/kubernetes.io/pod/uid"

// Resolver answers, for the cgroup that opened a connection, who the workload is. Sources are
// consulted in a fixed order and the first that binds a token to the cgroup decides, also when
// its token is expired or invalid (fail closed, never fall through to a weaker binding):
//
//  1. enrollments (Enroll) of the cgroup or its nearest enrolled ancestor,
//  2. static rules (Config.Static), the cgroup's own path or its nearest matching ancestor,
//  3. the Kubernetes pod the cgroup belongs to (Config.Kubernetes).
//
// Lookups are cheap enough to repeat for every statement: a cgroup's path, ancestry and
// attribution are computed once and cached by cgroup id, enrollments are a map, and token files
// are re-read only when they change. Safe for concurrent use.
type Resolver struct {
	verifier *Verifier
	log      *slog.Logger
	enrolled enrollments
	static   []StaticConfig
	kube     *KubernetesConfig
	files    tokenFiles

	mu      sync.RWMutex
	cgroups map[uint64]*cgroupInfo

	enrollFile string
	saveMu     sync.Mutex // serialises writes of enrollFile
}

// cgroupInfo is what the resolver derived once from a cgroup id.
type cgroupInfo struct {
	// name is the hierarchy path.
	name string
	// chain is the cgroup's id followed by its ancestors' ids, excluding the root.
	chain []uint64
	// workload is the attribution of name, or attrErr why there is none.
	workload Workload
	attrErr  error
	// file is the token file bound to the cgroup by a static rule or its pod, from describes
	// the binding for messages, and podUID, for a pod's token, is the pod the token must name.
	file, from, podUID string
	// kubeErr is why the Kubernetes source cannot serve this cgroup although it looks like a
	// pod; its message names the cgroup.
	kubeErr error
}

// NewResolver checks cfg and builds the verifier and token sources it describes. Run must be
// called to end enrollments of removed cgroups.
func NewResolver(cfg Config, log *slog.Logger) (*Resolver, error) {
	v, err := NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.FileRecheck == 0 {
		cfg.FileRecheck = DefaultFileRecheck
	}
	r := &Resolver{
		verifier: v,
		log:      log,
		enrolled: enrollments{byID: map[uint64]Enrollment{}},
		static:   cfg.Static,
		files:    tokenFiles{recheck: cfg.FileRecheck, byPath: map[string]*tokenFile{}},
		cgroups:  map[uint64]*cgroupInfo{},

		enrollFile: cfg.EnrollmentsFile,
	}
	if cfg.Kubernetes != nil {
		k := *cfg.Kubernetes
		if len(k.KubeletPrefixes) == 0 {
			k.KubeletPrefixes = []string{"/"}
		}
		r.kube = &k
	}
	if err := r.loadEnrollments(); err != nil {
		return nil, err
	}
	return r, nil
}

// Identity returns the verified identity of the workload that opened the connection o
// describes, or an error saying why there is none: no source binds a token to the cgroup
// (ErrNoIdentity, with the enroll command to fix it), the bound token expired (ErrExpired) or
// does not verify, or the cgroup's path is not attributable.
func (r *Resolver) Identity(ctx context.Context, o origin.Origin) (Identity, error) {
	info, err := r.info(o.CgroupID)
	if err != nil {
		return Identity{}, err
	}
	if en, ok := r.enrolled.get(info.chain); ok {
		if err := r.verifier.checkValid(en.Identity); err != nil {
			return Identity{}, fmt.Errorf("cgroup %s: the token enrolled for %s: %w; re-enroll it with: sluice enroll %s --token-file F", info.name, en.Cgroup, err, en.Cgroup)
		}
		return en.Identity, nil
	}
	if info.file != "" {
		id, c, err := r.files.identity(ctx, r.verifier, info.file)
		if err == nil && info.podUID != "" {
			if bound, _ := c.lookup(podUIDClaim); bound != info.podUID {
				err = fmt.Errorf("the token is bound to pod %v, not to pod %s", bound, info.podUID)
			}
		}
		if err == nil {
			err = r.verifier.checkValid(id)
		}
		if err != nil {
			return Identity{}, fmt.Errorf("cgroup %s: token file %s (%s): %w", info.name, info.file, info.from, err)
		}
		return id, nil
	}
	if info.kubeErr != nil {
		return Identity{}, info.kubeErr
	}
	return Identity{}, &noIdentityError{cgroup: info.name}
}

// Continue is Identity for a session that already has the identity cur: the proxy calls it
// before each statement. It returns the current identity, which carries a later expiry once the
// token was refreshed (re-enrollment, kubelet rotation), so a refreshed grant keeps the session
// going; it fails once the grant has ended (ErrExpired, ErrNoIdentity), and with
// ErrIdentityChanged when the cgroup's identity now names another holder (issuer, subject or
// groups), since policy was decided for cur. Either way the session must end.
func (r *Resolver) Continue(ctx context.Context, o origin.Origin, cur Identity) (Identity, error) {
	id, err := r.Identity(ctx, o)
	if err != nil {
		return Identity{}, err
	}
	if !id.sameHolder(cur) {
		return Identity{}, fmt.Errorf("%w: the session began as %s (%s, groups %q) and its cgroup is now %s (%s, groups %q)",
			ErrIdentityChanged, cur.Subject, cur.Issuer, cur.Groups, id.Subject, id.Issuer, id.Groups)
	}
	return id, nil
}

// Workload returns the hierarchy path of o's cgroup and the workload attributed to it, for
// audit records and `sluice status`. The error is the attribution's (conflicting ids).
func (r *Resolver) Workload(o origin.Origin) (string, Workload, error) {
	info, err := r.info(o.CgroupID)
	if err != nil {
		return "", Workload{}, err
	}
	return info.name, info.workload, info.attrErr
}

// info returns the cached description of a cgroup, deriving it on first use.
func (r *Resolver) info(id uint64) (*cgroupInfo, error) {
	r.mu.RLock()
	info, ok := r.cgroups[id]
	r.mu.RUnlock()
	if ok {
		return info, nil
	}
	info, err := r.describe(id)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cgroups[id] = info
	r.mu.Unlock()
	return info, nil
}

// describe derives a cgroup's path, ancestry, attribution and file binding from its id.
func (r *Resolver) describe(id uint64) (*cgroupInfo, error) {
	abs, err := cgroup.PathOf(id)
	if err != nil {
		return nil, err
	}
	mnt, err := cgroup.Mount()
	if err != nil {
		return nil, err
	}
	info := &cgroupInfo{name: cgroup.Name(abs), chain: []uint64{id}}
	names := []string{info.name}
	for p := filepath.Dir(abs); strings.HasPrefix(p, mnt+"/"); p = filepath.Dir(p) {
		pid, err := cgroup.ID(p)
		if err != nil {
			return nil, fmt.Errorf("cgroup %s: ancestor: %w", info.name, err)
		}
		info.chain = append(info.chain, pid)
		names = append(names, cgroup.Name(p))
	}
	info.workload, info.attrErr = Attribute(info.name)
	r.bindFile(info, names)
	return info, nil
}

// bindFile finds the token file bound to the cgroup: the first static rule matching the
// cgroup or, failing that, its nearest ancestor; else its pod's token.
func (r *Resolver) bindFile(info *cgroupInfo, names []string) {
	for _, name := range names {
		for _, s := range r.static {
			if ok, _ := path.Match(s.Cgroup, name); ok { // patterns were validated
				info.file, info.from = s.TokenFile, fmt.Sprintf("static rule %s", s.Cgroup)
				return
			}
		}
	}
	switch w := info.workload; {
	case r.kube == nil:
	case info.attrErr != nil:
		info.kubeErr = info.attrErr
	case w.PodUID == "":
	case !slices.Contains(r.kube.KubeletPrefixes, w.KubeletPrefix):
		info.kubeErr = fmt.Errorf("cgroup %s looks like pod %s, but its kubepods hierarchy is under %s, not a trusted kubelet prefix %q: refusing a pod identity for it", info.name, w.PodUID, w.KubeletPrefix, r.kube.KubeletPrefixes)
	default:
		info.file = strings.ReplaceAll(r.kube.TokenPath, podUIDPlaceholder, w.PodUID)
		info.from, info.podUID = "pod "+w.PodUID, w.PodUID
	}
}

// Prune forgets removed cgroups and ends their enrollments, and ends enrollments whose token
// has expired. Run calls it periodically.
func (r *Resolver) Prune() {
	r.pruneEnrollments()
	r.mu.RLock()
	ids := make([]uint64, 0, len(r.cgroups))
	for id := range r.cgroups {
		ids = append(ids, id)
	}
	r.mu.RUnlock()
	var gone []uint64 // checked without the lock: lookups go on meanwhile
	for _, id := range ids {
		if _, err := cgroup.PathOf(id); errors.Is(err, os.ErrNotExist) {
			gone = append(gone, id)
		}
	}
	keep := map[string]bool{}
	r.mu.Lock()
	for _, id := range gone {
		delete(r.cgroups, id)
	}
	for _, info := range r.cgroups {
		if info.file != "" {
			keep[info.file] = true
		}
	}
	r.mu.Unlock()
	r.files.prune(keep)
}

// Run prunes every interval until ctx is done.
func (r *Resolver) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Prune()
		}
	}
}
