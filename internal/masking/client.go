package masking

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// Check decides on a client message before it is forwarded, without changing the
// session; Sent must follow. Messages other than Query, Parse, Bind, Describe, Execute,
// Close and Sync are allowed and need no Sent.
func (s *Session) Check(ctx context.Context, msg pgproto3.FrontendMessage) Verdict {
	if s.off {
		return Verdict{}
	}
	st := s.e.state.Load()
	s.mu.Lock()
	cleared := s.clearedSet(st)
	s.mu.Unlock()
	t := s.e.target(st, s.cat)
	switch m := msg.(type) {
	case *pgproto3.Query:
		p := s.e.plan(ctx, st, t, m.String, cleared)
		v := p.Verdict
		s.checkCopyFromExecute(p, &v)
		v.pending = &pending{kind: 'Q', plan: p}
		return v
	case *pgproto3.Parse:
		p := s.e.plan(ctx, st, t, m.Query, cleared)
		v := p.Verdict
		s.checkCopyFromExecute(p, &v)
		v.pending = &pending{kind: 'P', name: m.Name, stmt: &statement{plan: p}}
		return v
	case *pgproto3.Bind:
		return s.checkBind(ctx, m)
	case *pgproto3.Describe:
		return Verdict{pending: &pending{kind: 'D', target: m.ObjectType, name: m.Name}}
	case *pgproto3.Execute:
		return s.checkExecute(m)
	case *pgproto3.Close:
		return Verdict{pending: &pending{kind: 'C', target: m.ObjectType, name: m.Name}}
	case *pgproto3.Sync:
		return Verdict{pending: &pending{kind: 'S'}}
	}
	return Verdict{}
}

// checkCopyFromExecute refuses CREATE TABLE ... AS EXECUTE of a prepared statement whose
// results carry masked values.
func (s *Session) checkCopyFromExecute(p *queryPlan, v *Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sp := range p.stmts {
		name := sp.res.CopyFromExecute
		if name == "" {
			continue
		}
		src, ok := s.prepared[name]
		if !ok {
			src = unknownPlan
		}
		for _, o := range src.res.Outputs {
			if all := o.Taint.All(); !all.Empty() {
				rule := src.st.rules.Rules[all.First()]
				v.deny(rule.Name, fmt.Sprintf("masking rule %s: CREATE TABLE AS EXECUTE %s would store values the rule masks unmasked", rule.Name, name))
			}
		}
		if src == unknownPlan {
			v.deny("builtin/unknown-statement", "masking does not know prepared statement "+name)
		}
	}
}

// checkBind refuses binary results that a column's strategy cannot produce, when the
// statement's columns are already known, and says whether its parameters are sensitive.
func (s *Session) checkBind(ctx context.Context, m *pgproto3.Bind) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	stmt := s.statements[m.PreparedStatement]
	p := &portal{name: m.DestinationPortal, stmt: stmt, formats: append([]int16(nil), m.ResultFormatCodes...)}
	v := Verdict{pending: &pending{kind: 'B', portal: p}}
	if stmt == nil {
		v.Sensitive = true // nothing known of it: its parameters may be anything
		return v
	}
	sp := stmt.stmtPlan()
	v.Sensitive = sp.sensitive
	if stmt.fields == nil {
		return v
	}
	// A factory of its own: this is the client direction, and the maskers are not run.
	if _, err := s.buildRows(ctx, &factory{}, sp, stmt.fields, p.formats); err != nil {
		v.deny("builtin/unmaskable-format", "masking cannot produce valid values of a result column in the requested format: "+err.Error())
	}
	return v
}

// checkExecute refuses to run a statement that reads masked columns without its result
// columns having been described: without a RowDescription the rows cannot be masked.
func (s *Session) checkExecute(m *pgproto3.Execute) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.portals[m.Portal]
	if p == nil {
		// A SQL cursor executed through the protocol.
		c, ok := s.cursors[m.Portal]
		if !ok {
			c = unknownPlan
		}
		p = &portal{name: m.Portal, cursor: c}
	}
	v := Verdict{pending: &pending{kind: 'E', portal: p}}
	sp := p.plan()
	described := p.fields != nil || p.described || (p.stmt != nil && (p.stmt.fields != nil || p.stmt.described))
	if sp.sensitive && !described && returnsRows(sp) {
		v.deny("builtin/describe-first", "the statement reads tables with masked columns: send Describe before Execute so that its result columns can be masked")
	}
	return v
}

// returnsRows reports whether a statement (or a SQL cursor, executed as a portal) may
// send DataRows.
func returnsRows(sp *stmtPlan) bool {
	switch sp.res.Kind {
	case lineage.KindQuery, lineage.KindFetch, lineage.KindExecute, lineage.KindDeclare:
		return true
	}
	return false
}

// Sent records what went upstream for the message last checked: the message itself, or
// (refused) the proxy's stand-in that makes the server fail in its place. Every Check must
// be followed by its Sent, in wire order, before the message (or stand-in) is written.
func (s *Session) Sent(v Verdict, refused bool) {
	p := v.pending
	if s.off || p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if refused {
		kind := byte('x')
		if p.kind == 'Q' {
			kind = 'q'
		}
		s.queue = append(s.queue, &pending{kind: kind})
		return
	}
	s.queue = append(s.queue, p)
	switch p.kind {
	case 'Q':
		for _, sp := range p.plan.stmts {
			p.results = append(p.results, s.effective(sp))
			s.register(sp)
		}
	case 'P':
		s.statements[p.name] = p.stmt
	case 'B':
		s.portals[p.portal.name] = p.portal
	case 'D':
		// The answer describes the statement or portal of that name now; a later Parse
		// or Bind may reuse the name before the answer arrives.
		if p.target == 'S' {
			if p.stmt = s.statements[p.name]; p.stmt != nil {
				p.stmt.described = true
			}
			break
		}
		if p.portal = s.portals[p.name]; p.portal == nil {
			if c, ok := s.cursors[p.name]; ok {
				// A SQL cursor is a portal too: describe and execute it like one.
				p.portal = &portal{name: p.name, cursor: c}
				s.portals[p.name] = p.portal
			}
		}
		if p.portal != nil {
			p.portal.described = true
		}
	case 'E':
		p.results = []*stmtPlan{s.effective(p.portal.plan())}
		if p.portal.cursor == nil {
			// Running a prepared DECLARE, CLOSE, PREPARE or DEALLOCATE.
			s.register(p.portal.plan())
		}
	case 'C':
		if p.target == 'S' {
			delete(s.statements, p.name)
		} else {
			delete(s.portals, p.name)
		}
	}
}
