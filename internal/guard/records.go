package guard

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/audit"
	"github.com/sluicehq/sluice/internal/pgformat"
	"github.com/sluicehq/sluice/internal/policy"
	"github.com/sluicehq/sluice/internal/policy/classify"
)

// startRecord describes the session: who (verified identity), where from (cgroup,
// workload, process) and what it asked for.
func (s *session) startRecord() *audit.SessionStart {
	o := s.info.Origin
	rec := &audit.SessionStart{
		Session:         s.id,
		Mode:            o.Mode.String(),
		Cgroup:          audit.Cgroup{ID: o.CgroupID},
		Process:         process(o.PID, o.UID),
		Client:          s.info.Client,
		Destination:     o.Dest,
		Target:          s.info.Target,
		User:            s.info.User,
		Database:        s.info.Database,
		ApplicationName: s.info.Parameters["application_name"],
		TLS:             s.info.TLS,
	}
	if path, w, err := s.g.opts.Identities.Workload(o); path != "" {
		rec.Cgroup.Path = path
		if err == nil {
			rec.Workload = audit.Workload{Container: w.ContainerID, Pod: w.PodUID}
		}
	}
	s.mu.Lock()
	if s.verified {
		rec.Identity = &audit.Identity{Issuer: s.ident.Issuer, Subject: s.ident.Subject, Groups: s.ident.Groups}
	}
	s.mu.Unlock()
	if s.login != nil {
		rec.DatabaseUser, rec.DatabaseRole = s.login.User, s.login.Role
	}
	return rec
}

// process reads the connecting process's name and executable. The process may be gone (a
// short-lived client): the kernel's pid and uid stay on record either way.
func process(pid, uid uint32) audit.Process {
	p := audit.Process{PID: pid, UID: uid}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
		p.Name = strings.TrimSpace(string(b))
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		p.Exe = exe
	}
	return p
}

// endRecord records the session's end once, whichever path ends it first, after the
// outcomes completed so far.
func (s *session) endRecord(reason string) {
	s.endOnce.Do(func() {
		s.outcomes.flush()
		s.mu.Lock()
		n := s.seq
		s.mu.Unlock()
		_ = s.g.opts.Audit.AppendLater(&audit.SessionEnd{
			Session:    s.id,
			Duration:   audit.Nanos(time.Since(s.info.Started)),
			Statements: n,
			Error:      reason,
		})
	})
}

func statementRecord(session string, seq uint64, text string, proto audit.Protocol, params []audit.Parameter, d policy.Decision, c classified, auditOnly bool) *audit.Statement {
	rec := &audit.Statement{
		Session:     session,
		Seq:         seq,
		Protocol:    proto,
		Text:        text,
		Fingerprint: d.Fingerprint,
		Class:       c.class,
		Command:     c.command,
		Objects:     c.objects,
		Parameters:  params,
		Decision:    decision(d.Action),
		Rule:        d.Rule,
		AuditOnly:   auditOnly,
	}
	if d.Action == policy.Deny || d.Action == policy.Review {
		rec.Reason = denialMessage(d)
	}
	return rec
}

// classified is what a statement record says of a statement's classification.
type classified struct {
	class, command string
	objects        []audit.Object // shared by the records of one classification: read only
}

// maxClassified bounds a session's cache of classified statements.
const maxClassified = 256

// classifiedOf returns what the records say of c, worked out once per classification the
// session meets: a prepared or repeated statement's comes from the policy's cache, the
// same pointer at every execution, and formatting its objects each time was a tenth of
// the guard's work per statement. Called with s.mu held.
func (s *session) classifiedOf(c *classify.Classification) classified {
	if c == nil {
		return classified{}
	}
	if cl, ok := s.classified[c]; ok {
		return cl
	}
	var cl classified
	var classes, commands []string
	for _, st := range c.Statements {
		classes = append(classes, st.Classes.String())
		commands = append(commands, st.Command)
		for _, obj := range st.Objects {
			cl.objects = append(cl.objects, audit.Object{Type: obj.Kind, Name: obj.String()})
		}
	}
	cl.class, cl.command = strings.Join(dedupe(classes), ","), strings.Join(dedupe(commands), ";")
	if len(s.classified) >= maxClassified || s.classified == nil {
		s.classified = make(map[*classify.Classification]classified)
	}
	s.classified[c] = cl
	return cl
}

func decision(a policy.Action) audit.Decision {
	switch a {
	case policy.Deny:
		return audit.DecisionDeny
	case policy.Review:
		return audit.DecisionReview
	}
	return audit.DecisionAllow
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// parameters copies a Bind's values for the record (the message aliases the proxy's
// buffer). Text values are kept as text, binary ones base64. A value longer than max bytes
// is cut to its first max bytes, with its size and hash kept whole. With redact (values
// that may be masked data) only nulls and formats are kept.
func parameters(m *pgproto3.Bind, max int, redact bool) []audit.Parameter {
	out := make([]audit.Parameter, len(m.Parameters))
	for i, v := range m.Parameters {
		if v == nil {
			out[i] = audit.Parameter{Null: true}
			continue
		}
		p := audit.Parameter{Binary: pgformat.Of(m.ParameterFormatCodes, i) == pgformat.Binary}
		switch {
		case redact:
			p.Redacted = true
			out[i] = p
			continue
		case len(v) > max:
			sum := sha256.Sum256(v)
			p.Size, p.SHA256 = int64(len(v)), hex.EncodeToString(sum[:])
			v = v[:max]
		}
		if p.Binary {
			p.Value = base64.StdEncoding.EncodeToString(v)
		} else {
			p.Value = string(v) // a cut rune, like any invalid UTF-8, is stored as U+FFFD
		}
		out[i] = p
	}
	return out
}
