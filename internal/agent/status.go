package agent

import (
	"os"
	"time"

	"github.com/sluicehq/sluice/internal/cgroup"
	"github.com/sluicehq/sluice/internal/guard"
	"github.com/sluicehq/sluice/internal/identity"
	"github.com/sluicehq/sluice/internal/version"
)

func (a *Agent) status() (*Status, error) {
	cfg := a.cfg.Load()
	modes, err := a.redirect.Modes()
	if err != nil {
		return nil, err
	}
	s, err := a.redirect.Stats()
	if err != nil {
		return nil, err
	}
	root := cfg.Agent.CgroupRoot
	if root == "" {
		root = "/"
	}
	st := &Status{
		Version:    version.Version,
		PID:        os.Getpid(),
		AttachRoot: root,
		ProxyPort:  cfg.Redirect.ProxyPort,
		Ports:      cfg.Redirect.Ports,
		Counters: Counters{Redirected: s.Redirected, Refused: s.Refused, Passed: s.Passed,
			Ambiguous: s.Ambiguous, Origins: s.Origins, Tuples: s.Tuples},
		Sessions:    []SessionStatus{},
		Enrollments: []EnrollmentStatus{},
	}
	for _, m := range modes {
		ms := ModeStatus{Cgroup: "(gone)", ID: m.ID, Mode: m.Mode.String()}
		if m.Path != "" {
			ms.Cgroup, ms.Warning = cgroup.Name(m.Path), delegationWarning(m.Path, m.Mode)
		}
		st.Modes = append(st.Modes, ms)
	}
	for _, gs := range a.guard.Sessions() {
		ss := sessionStatus(gs)
		if _, w, err := a.identities.Workload(gs.Info.Origin); err == nil {
			ss.Container, ss.Pod = w.ContainerID, w.PodUID
		}
		st.Sessions = append(st.Sessions, ss)
	}
	for _, e := range a.identities.Enrollments() {
		st.Enrollments = append(st.Enrollments, enrollmentStatus(e))
	}
	return st, nil
}

func sessionStatus(gs guard.Session) SessionStatus {
	i := gs.Info
	path, _ := cgroup.PathOf(i.Origin.CgroupID)
	ss := SessionStatus{
		ID:           i.ID,
		Cgroup:       cgroup.Name(path),
		PID:          i.Origin.PID,
		Mode:         i.Origin.Mode.String(),
		Destination:  i.Origin.Dest.String(),
		Target:       i.Target,
		User:         i.User,
		Database:     i.Database,
		Started:      i.Started.UTC().Format(time.RFC3339),
		Unverified:   gs.Unverified,
		DatabaseUser: gs.DatabaseUser,
		DatabaseRole: gs.DatabaseRole,
	}
	if gs.Unverified == "" {
		ss.Issuer, ss.Subject, ss.Groups = gs.Identity.Issuer, gs.Identity.Subject, gs.Identity.Groups
		ss.Expiry = gs.Identity.Expiry.UTC().Format(time.RFC3339)
	}
	return ss
}

func enrollmentStatus(e identity.Enrollment) EnrollmentStatus {
	return EnrollmentStatus{
		Cgroup:  e.Cgroup,
		ID:      e.CgroupID,
		Issuer:  e.Identity.Issuer,
		Subject: e.Identity.Subject,
		Groups:  e.Identity.Groups,
		Expiry:  e.Identity.Expiry.UTC().Format(time.RFC3339),
		TokenID: e.Identity.TokenID,
	}
}
