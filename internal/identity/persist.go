package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sluicehq/sluice/internal/cgroup"
)

// loadEnrollments restores the enrollments an earlier agent saved. An enrollment is only
// restored while it is still sound: its cgroup exists under the same id (ids are never
// reused, so a new cgroup of the same path does not inherit it), its issuer is still
// trusted, and its identity has not expired. Bindings are not re-evaluated (the token is not
// kept): an operator who narrows a binding re-enrolls, or restarts with the file removed.
func (r *Resolver) loadEnrollments() error {
	if r.enrollFile == "" {
		return nil
	}
	b, err := os.ReadFile(r.enrollFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enrollments file: %w", err)
	}
	var saved []Enrollment
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // claims keep numbers as json.Number, as verification produces them
	if err := dec.Decode(&saved); err != nil {
		return fmt.Errorf("enrollments file %s: %w", r.enrollFile, err)
	}
	for _, en := range saved {
		_, trusted := r.verifier.issuers[en.Identity.Issuer]
		_, err := cgroup.PathOf(en.CgroupID)
		switch {
		case err != nil:
			r.log.Info("saved enrollment dropped: cgroup gone", "cgroup", en.Cgroup, "cgroup_id", en.CgroupID)
		case !trusted:
			r.log.Warn("saved enrollment dropped: issuer no longer trusted", "cgroup", en.Cgroup, "issuer", en.Identity.Issuer)
		case r.verifier.checkValid(en.Identity) != nil:
			r.log.Info("saved enrollment dropped: expired", "cgroup", en.Cgroup, "expiry", en.Identity.Expiry)
		default:
			r.enrolled.byID[en.CgroupID] = en
		}
	}
	return nil
}

// saveEnrollments writes the current enrollments atomically (a new file renamed into
// place), readable by root only. Failure is logged: enrollment still works, it just would
// not survive a restart.
func (r *Resolver) saveEnrollments() {
	if r.enrollFile == "" {
		return
	}
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	b, err := json.Marshal(r.Enrollments())
	if err == nil {
		err = writeFileAtomic(r.enrollFile, b)
	}
	if err != nil {
		r.log.Error("enrollments not saved: they will not survive an agent restart", "file", r.enrollFile, "err", err)
	}
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".enrollments-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
