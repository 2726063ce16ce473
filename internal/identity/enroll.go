package identity

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// Enrollment is a token bound to a cgroup by an operator or a CI runner hook (`sluice
// enroll`). It covers the cgroup and every cgroup below it, like enforcement modes do, so a job
// cannot shed its identity by moving into a child cgroup it creates, and it ends when the cgroup
// is removed or the token expires.
type Enrollment struct {
	// CgroupID is the enrolled cgroup's id.
	CgroupID uint64
	// Cgroup is its hierarchy path.
	Cgroup string
	// Identity is the identity verified from the token. The token itself is not kept.
	Identity Identity
	// At is when it was enrolled.
	At time.Time
}

// enrollments holds the enrolled cgroups, keyed by cgroup id. Cgroup ids are never reused
// while the system runs, so an entry can never be inherited by a later cgroup of the same path.
type enrollments struct {
	mu   sync.RWMutex
	byID map[uint64]Enrollment
}

// get returns the enrollment of the nearest enrolled cgroup in chain (the cgroup's own id
// first, then its ancestors').
func (e *enrollments) get(chain []uint64) (Enrollment, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, id := range chain {
		if en, ok := e.byID[id]; ok {
			return en, true
		}
	}
	return Enrollment{}, false
}

// Enroll verifies token and binds its identity to the cgroup ref names: a cgroup id in decimal
// (what the kernel and `sluice status` report) or a path as cgroup.Resolve accepts it (a
// hierarchy path like "/ci/job-42", or an absolute directory in the cgroup2 mount). A previous
// enrollment of the same cgroup is replaced, which is how a CI hook refreshes a token before
// it expires: live sessions continue with the new identity if its holder is the same (see
// Continue). An invalid token changes nothing.
func (r *Resolver) Enroll(ctx context.Context, ref, token string) (Enrollment, error) {
	id, abs, err := lookupCgroup(ref)
	if err != nil {
		return Enrollment{}, err
	}
	name := cgroup.Name(abs)
	if name == "/" {
		return Enrollment{}, errors.New("refusing to enroll the root cgroup: its identity would cover every process on the node")
	}
	ident, err := r.verifier.Verify(ctx, token)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enrolling cgroup %s: %w", name, err)
	}
	en := Enrollment{CgroupID: id, Cgroup: name, Identity: ident, At: r.verifier.now()}
	r.enrolled.mu.Lock()
	r.enrolled.byID[id] = en
	r.enrolled.mu.Unlock()
	r.saveEnrollments()
	r.log.Info("cgroup enrolled", "cgroup", name, "cgroup_id", id, "issuer", ident.Issuer, "subject", ident.Subject, "expiry", ident.Expiry, "token_id", ident.TokenID)
	return en, nil
}

// Unenroll removes the enrollment of the cgroup ref names (see Enroll), for a CI hook that
// ends a job before its cgroup goes away. Live sessions of the cgroup end at their next
// statement. Unenrolling a cgroup that is not enrolled is an error, so a typo is noticed.
func (r *Resolver) Unenroll(ref string) error {
	id, abs, err := lookupCgroup(ref)
	if err != nil {
		return err
	}
	r.enrolled.mu.Lock()
	_, ok := r.enrolled.byID[id]
	delete(r.enrolled.byID, id)
	r.enrolled.mu.Unlock()
	if !ok {
		return fmt.Errorf("cgroup %s is not enrolled", cgroup.Name(abs))
	}
	r.saveEnrollments()
	return nil
}

// Enrollments lists the current enrollments by cgroup path, for `sluice status`.
func (r *Resolver) Enrollments() []Enrollment {
	r.enrolled.mu.RLock()
	out := make([]Enrollment, 0, len(r.enrolled.byID))
	for _, en := range r.enrolled.byID {
		out = append(out, en)
	}
	r.enrolled.mu.RUnlock()
	slices.SortFunc(out, func(a, b Enrollment) int { return cmp.Compare(a.Cgroup, b.Cgroup) })
	return out
}

// pruneEnrollments ends the enrollments whose cgroup is gone or whose token has expired. The
// checks run without the lock, so lookups go on; an enrollment replaced meanwhile is kept.
func (r *Resolver) pruneEnrollments() {
	var ended []Enrollment
	for _, en := range r.Enrollments() {
		_, err := cgroup.PathOf(en.CgroupID)
		switch {
		case errors.Is(err, os.ErrNotExist):
			r.log.Info("enrollment ended: cgroup removed", "cgroup", en.Cgroup, "cgroup_id", en.CgroupID, "subject", en.Identity.Subject)
		case r.verifier.checkValid(en.Identity) != nil:
			r.log.Info("enrollment ended: token expired", "cgroup", en.Cgroup, "cgroup_id", en.CgroupID, "subject", en.Identity.Subject, "expiry", en.Identity.Expiry)
		default:
			continue
		}
		ended = append(ended, en)
	}
	if len(ended) == 0 {
		return
	}
	r.enrolled.mu.Lock()
	for _, en := range ended {
		if cur, ok := r.enrolled.byID[en.CgroupID]; ok && cur.At.Equal(en.At) && cur.Identity.TokenID == en.Identity.TokenID {
			delete(r.enrolled.byID, en.CgroupID)
		}
	}
	r.enrolled.mu.Unlock()
	r.saveEnrollments()
}

// lookupCgroup resolves a cgroup reference (decimal id or path) to its id and directory.
func lookupCgroup(ref string) (uint64, string, error) {
	if id, err := strconv.ParseUint(ref, 10, 64); err == nil {
		abs, err := cgroup.PathOf(id)
		if err != nil {
			return 0, "", err
		}
		return id, abs, nil
	}
	abs, err := cgroup.Resolve(ref)
	if err != nil {
		return 0, "", err
	}
	id, err := cgroup.ID(abs)
	if err != nil {
		return 0, "", err
	}
	return id, abs, nil
}
