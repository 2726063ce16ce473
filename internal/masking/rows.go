package masking

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/pgformat"
)

// catalogWait bounds a catalog lookup made while a result is being relayed (an origin not
// seen before).
const catalogWait = 5 * time.Second

// rowMasker masks the DataRows of one result: one masker per column, nil to pass it.
type rowMasker struct {
	maskers []masker
	active  bool // some column is masked: rows are rewritten
	// every, when set, masks every column of a result whose columns are not known.
	every masker
}

// buildRows decides how each result column is masked, from its origin (RowDescription's
// table OID and attribute number) and the statement's plan:
//   - an origin masked (and not cleared) by a rule: that rule's strategy;
//   - an origin computed from masked columns (a view's expression): content detection, or
//     NULL if a rule of it refuses computed columns (the plan normally refused first);
//   - no masked origin, in a statement with a detect fallback: content detection;
//   - no origin at all: content detection when unattributed columns are scanned.
//
// formats are the Bind's result format codes when fields came from a Describe of the
// statement (whose formats are not yet chosen), nil to use the fields' own. An error means
// a strategy cannot produce a valid value of a column's type in its format.
func (s *Session) buildRows(ctx context.Context, f *factory, sp *stmtPlan, fields []pgproto3.FieldDescription, formats []int16) (*rowMasker, error) {
	st := sp.st
	if st == nil {
		st = s.e.state.Load()
	}
	rs := st.rules
	cleared := s.clearedSet(st)
	t := s.e.target(st, s.cat)
	rm := &rowMasker{maskers: make([]masker, len(fields))}
	for i, fd := range fields {
		format := fd.Format
		if formats != nil {
			format = pgformat.Of(formats, i)
		}
		c := t.res.describe(ctx, fd.DataTypeOID, fd.TypeModifier, format == 1)
		var m masker
		detectIt := sp.detect || (fd.TableOID == 0 && rs.Unattributed)
		if fd.TableOID != 0 {
			col, err := t.res.column(ctx, fd.TableOID, int16(fd.TableAttributeNumber))
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", fd.Name, err)
			}
			taint := col.Taint.Without(cleared)
			switch {
			case !taint.Direct.Empty():
				rule := rs.Rules[taint.Direct.First()]
				m, err = f.strategyMasker(rule, c, t.res.caster(ctx, rule, c))
				if err != nil {
					return nil, fmt.Errorf("column %q: %w", fd.Name, err)
				}
				detectIt = false
			case !taint.Derived.Empty():
				detectIt = true
				if rs.any(taint.Derived, func(r *Rule) bool { return r.Fallback == FallbackDeny }) {
					m, detectIt = nullMasker, false
				}
			}
		}
		if detectIt {
			m = f.contentMasker(c)
		}
		rm.maskers[i] = m
		rm.active = rm.active || m != nil
	}
	return rm, nil
}

// factory returns the session's masker factory for the rules of st (nil: those in force).
func (s *Session) factory(st *engineState) *factory {
	if st == nil {
		st = s.e.state.Load()
	}
	if s.f == nil || s.f.detector != st.detector {
		s.f = newFactory(st.key, st.detector)
	}
	return s.f
}

// unknownRows masks a result whose columns are not known (an Execute without Describe of
// a statement that reads no masked column): every value is scanned by content.
func (s *Session) unknownRows() *rowMasker {
	st := s.e.state.Load()
	if !st.rules.Unattributed {
		return &rowMasker{}
	}
	return &rowMasker{active: true, every: s.factory(st).contentMasker(column{})}
}

// maskRow rewrites a DataRow, or returns nil to pass it unchanged. The rewritten message
// and its values are reused by the next call.
func (s *Session) maskRow(rm *rowMasker, m *pgproto3.DataRow) (pgproto3.BackendMessage, error) {
	if !rm.active {
		return nil, nil
	}
	if rm.every != nil {
		rm.maskers = rm.maskers[:0]
		for range m.Values {
			rm.maskers = append(rm.maskers, rm.every)
		}
	}
	if len(m.Values) != len(rm.maskers) {
		return nil, fmt.Errorf("masking: a row of %d columns in a result of %d", len(m.Values), len(rm.maskers))
	}
	s.dst = s.dst[:0]
	s.vals = append(s.vals[:0], m.Values...)
	for i, mask := range rm.maskers {
		v := m.Values[i]
		if mask == nil || v == nil {
			continue
		}
		start := len(s.dst)
		var null bool
		if s.dst, null = mask(s.dst, v); null {
			s.vals[i] = nil
			s.cells.Add(1)
		} else {
			s.vals[i] = s.dst[start:len(s.dst):len(s.dst)]
			if !bytes.Equal(s.vals[i], v) { // a content masker leaves clean text alone
				s.cells.Add(1)
			}
		}
	}
	s.row.Values = s.vals
	return &s.row, nil
}

// Wants reports whether a DataRow ('D') or CopyData ('d') message about to be relayed must
// be decoded and passed to ServerMessage. False means it passes unchanged, so a relay can
// forward it as a raw frame: results with no masked column cost no decoding. It is cheap;
// ask for every such message (the answer changes between results). Every other message
// type of ServerInterest must always be passed to ServerMessage. Like ServerMessage, it is
// called from the server direction.
func (s *Session) Wants(typ byte) bool {
	if s.off {
		return false
	}
	// The result being relayed is the server direction's own state: asking about each
	// row of a known result takes no lock.
	if typ == 'd' {
		return s.copy != nil
	}
	if rm := s.rows; rm != nil {
		return rm.active
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rows == nil {
		h := s.head()
		if h == nil || h.kind != 'E' {
			return true // not expected: let ServerMessage refuse it
		}
		if err := s.executeRows(h); err != nil {
			return true
		}
	}
	return s.rows.active
}

// nullRows replaces every value: for a result whose columns cannot be masked validly.
func nullRows(n int) *rowMasker {
	rm := &rowMasker{maskers: make([]masker, n), active: true}
	for i := range rm.maskers {
		rm.maskers[i] = nullMasker
	}
	return rm
}

// copyFields keeps a RowDescription's fields beyond the call (they alias the relay's
// buffer). The result is never nil: an empty description is a known one.
func copyFields(in []pgproto3.FieldDescription) []pgproto3.FieldDescription {
	out := make([]pgproto3.FieldDescription, len(in))
	for i, f := range in {
		out[i] = f
		out[i].Name = append([]byte(nil), f.Name...)
	}
	return out
}

func (s *Session) dataRow(m *pgproto3.DataRow) (pgproto3.BackendMessage, error) {
	if s.rows == nil {
		h := s.head()
		if h == nil || h.kind != 'E' {
			return nil, fmt.Errorf("%w: DataRow outside a result", errUnexpected)
		}
		if err := s.executeRows(h); err != nil {
			return nil, err
		}
	}
	return s.maskRow(s.rows, m)
}

// executeRows prepares masking for an Execute's rows from the portal's description (or
// its statement's, with the Bind's formats).
func (s *Session) executeRows(h *pending) error {
	p, sp := h.portal, h.results[0]
	fields, formats := p.fields, []int16(nil)
	if fields == nil && p.stmt != nil && p.stmt.fields != nil {
		fields, formats = p.stmt.fields, p.formats
		if formats == nil {
			formats = []int16{}
		}
	}
	if fields == nil {
		if sp.sensitive {
			return fmt.Errorf("%w: rows of a statement that reads masked columns arrived without a description", errUnexpected)
		}
		s.rows = s.unknownRows()
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), catalogWait)
	defer cancel()
	rm, err := s.buildRows(ctx, s.factory(sp.st), sp, fields, formats)
	if err != nil {
		s.log.Warn("masking: the result cannot be masked as planned (catalog lookup or strategy failed); every value is sent as NULL", "err", err)
		rm = nullRows(len(fields))
	}
	s.rows = rm
	return nil
}
