package audit

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Render writes rec as one human-readable line. Every string that a workload controls
// (statement text, parameters, application_name, error messages) is escaped: a query
// containing a terminal escape sequence must not act on the terminal of the person
// reading the audit log.
func Render(w io.Writer, rec *Record) error {
	_, err := fmt.Fprintf(w, "%s #%-6d %-13s %s\n", rec.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), rec.Seq, rec.Type, describe(rec))
	return err
}

func describe(rec *Record) string {
	switch {
	case rec.Segment != nil:
		s := rec.Segment
		return fmt.Sprintf("segment %d (format v%d, checkpoint every %d records or %v)", s.Index, s.Version, s.Checkpoints.Every, s.Checkpoints.Interval)
	case rec.LogOpen != nil:
		return describeLogOpen(rec.LogOpen)
	case rec.Checkpoint != nil:
		c := rec.Checkpoint
		return fmt.Sprintf("%s checkpoint signs the chain up to seq %d (hash %.12s…) with key %s", c.Reason, c.LastSeq, c.LastHash, c.KeyID)
	case rec.SessionStart != nil:
		return describeSessionStart(rec.SessionStart)
	case rec.Statement != nil:
		return describeStatement(rec.Statement)
	case rec.Outcome != nil:
		return describeOutcome(rec.Outcome)
	case rec.SessionEnd != nil:
		e := rec.SessionEnd
		s := fmt.Sprintf("session %s ended after %v, %d statements", clean(e.Session), time.Duration(e.Duration).Round(time.Millisecond), e.Statements)
		if e.Error != "" {
			s += ": " + clean(e.Error)
		}
		return s
	case rec.AgentAction != nil:
		return describeAgentAction(rec.AgentAction)
	}
	return "(no body)"
}

func describeLogOpen(o *LogOpen) string {
	var b strings.Builder
	fmt.Fprintf(&b, "log opened by %s (pid %d), sync %s; previous writer: %s", clean(o.Host), o.PID, o.Sync, o.Previous)
	if o.Recovered > 0 {
		fmt.Fprintf(&b, ", appended %d records from the journal", o.Recovered)
	}
	if o.DroppedBytes > 0 {
		fmt.Fprintf(&b, ", cut %d bytes of a torn last line", o.DroppedBytes)
	}
	return b.String()
}

func describeSessionStart(s *SessionStart) string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s", clean(s.Session))
	if id := s.Identity; id != nil {
		fmt.Fprintf(&b, " %s (%s)", clean(id.Subject), clean(id.Issuer))
		if len(id.Groups) > 0 {
			fmt.Fprintf(&b, " groups=%s", clean(strings.Join(id.Groups, ",")))
		}
	} else {
		b.WriteString(" (no identity)")
	}
	fmt.Fprintf(&b, " cgroup=%s (id %d)", clean(s.Cgroup.Path), s.Cgroup.ID)
	if s.Workload.Container != "" {
		fmt.Fprintf(&b, " container=%s", clean(s.Workload.Container))
	}
	if s.Workload.Pod != "" {
		fmt.Fprintf(&b, " pod=%s", clean(s.Workload.Pod))
	}
	fmt.Fprintf(&b, " pid=%d uid=%d", s.Process.PID, s.Process.UID)
	if s.Process.Name != "" || s.Process.Exe != "" {
		fmt.Fprintf(&b, " %s (%s)", clean(s.Process.Name), clean(s.Process.Exe))
	}
	if s.Destination.IsValid() {
		fmt.Fprintf(&b, " -> %s", s.Destination)
	}
	fmt.Fprintf(&b, " target=%s %s@%s", clean(s.Target), clean(s.User), clean(s.Database))
	if s.ApplicationName != "" {
		fmt.Fprintf(&b, " app=%s", strconv.Quote(s.ApplicationName))
	}
	if s.TLS {
		b.WriteString(" tls")
	}
	if s.Mode != "" {
		fmt.Fprintf(&b, " mode=%s", clean(s.Mode))
	}
	return b.String()
}

func describeStatement(s *Statement) string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s #%d %s", clean(s.Session), s.Seq, strings.ToUpper(string(s.Decision)))
	if s.AuditOnly {
		b.WriteString(" (audit only)")
	}
	for _, f := range []string{s.Class, s.Command} {
		if f != "" {
			b.WriteString(" " + clean(f))
		}
	}
	if len(s.Objects) > 0 {
		objs := make([]string, len(s.Objects))
		for i, o := range s.Objects {
			objs[i] = clean(o.Type + " " + o.Name)
		}
		fmt.Fprintf(&b, " on %s", strings.Join(objs, ", "))
	}
	if s.Rule != "" {
		fmt.Fprintf(&b, " rule=%s", clean(s.Rule))
	}
	if a := s.Approval; a != nil {
		fmt.Fprintf(&b, " approved by %s (%s)", clean(a.Approver), clean(a.ID))
	}
	fmt.Fprintf(&b, ": %s", clean(s.Text))
	if len(s.Parameters) > 0 {
		b.WriteString(" params:")
		for i, p := range s.Parameters {
			fmt.Fprintf(&b, " $%d=%s", i+1, describeParameter(p))
		}
	}
	if s.Reason != "" {
		fmt.Fprintf(&b, " (%s)", clean(s.Reason))
	}
	return b.String()
}

func describeParameter(p Parameter) string {
	switch {
	case p.Redacted:
		return "<redacted>"
	case p.Null:
		return "NULL"
	case p.Binary:
		return "<binary " + clean(p.Value) + ">"
	}
	return "'" + clean(p.Value) + "'"
}

func describeOutcome(o *Outcome) string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s #%d ", clean(o.Session), o.Seq)
	if o.SQLState != "" {
		fmt.Fprintf(&b, "ERROR %s %s", clean(o.SQLState), clean(o.Error))
	} else {
		fmt.Fprintf(&b, "ok %s", clean(o.Tag))
	}
	fmt.Fprintf(&b, ", %d rows, %v, %d bytes", o.Rows, time.Duration(o.Duration).Round(time.Microsecond), o.Bytes)
	if o.MaskedCells > 0 {
		fmt.Fprintf(&b, ", %d cells masked", o.MaskedCells)
	}
	return b.String()
}

func describeAgentAction(a *AgentAction) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s by %s", clean(a.Action), clean(a.Actor))
	for _, k := range slices.Sorted(maps.Keys(a.Details)) {
		fmt.Fprintf(&b, " %s=%s", clean(k), clean(a.Details[k]))
	}
	if a.Text != "" {
		fmt.Fprintf(&b, ": %s", clean(a.Text))
	}
	if a.Error != "" {
		fmt.Fprintf(&b, " failed: %s", clean(a.Error))
	}
	return b.String()
}

// clean escapes what could act on a terminal or hide text from the reader: C0 and C1
// control characters (newlines included, so one record stays one line) and Unicode
// bidirectional controls, which can make displayed SQL differ from the executed SQL.
func clean(s string) string {
	if !strings.ContainsFunc(s, needsEscape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case needsEscape(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
