package masking

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/sluicehq/sluice/internal/masking/lineage"
)

// copyMasker masks the rows of a COPY TO STDOUT in text or CSV format. PostgreSQL sends
// one row per CopyData message; a message that is not one whole row is refused.
type copyMasker struct {
	opts    *lineage.CopyOut
	maskers []masker
	header  bool // the next row is the header line
}

// copyOut prepares masking for the COPY whose CopyOutResponse arrived.
func (s *Session) copyOut(m *pgproto3.CopyOutResponse) error {
	sp := s.current()
	if sp == nil || sp.res.Kind != lineage.KindCopyOut {
		return fmt.Errorf("%w: COPY data from a statement not planned as COPY TO STDOUT", errUnexpected)
	}
	cm := &copyMasker{opts: sp.res.CopyOut, header: sp.res.CopyOut.Header}
	st := sp.st
	if st == nil {
		st = s.e.state.Load()
	}
	t := s.e.target(st, s.cat)
	f := s.factory(st)
	ctx, cancel := context.WithTimeout(context.Background(), catalogWait)
	defer cancel()
	active := false
	for _, c := range sp.copyOut {
		col := t.res.describe(ctx, c.typ, c.typmod, false)
		var mk masker
		switch {
		case c.rule != nil:
			var err error
			if mk, err = f.strategyMasker(c.rule, col, t.res.caster(ctx, c.rule, col)); err != nil {
				s.log.Warn("masking: a COPY column cannot be masked validly; sending NULL", "err", err)
				mk = nullMasker
			}
		case c.detect:
			mk = f.contentMasker(col)
			if col.oid == 0 {
				mk = f.contentMasker(column{})
			}
		}
		cm.maskers = append(cm.maskers, mk)
		active = active || mk != nil
	}
	if !active {
		return nil
	}
	if m.OverallFormat != 0 {
		return fmt.Errorf("%w: binary COPY of masked columns", errUnexpected)
	}
	s.copy = cm
	return nil
}

// copyRow masks one row of COPY data.
func (s *Session) copyRow(m *pgproto3.CopyData) (pgproto3.BackendMessage, error) {
	cm := s.copy
	if cm.header {
		cm.header = false
		return nil, nil
	}
	row := m.Data
	if len(row) == 0 || row[len(row)-1] != '\n' {
		return nil, fmt.Errorf("%w: a COPY data message that is not one row", errUnexpected)
	}
	var fields [][]byte
	if cm.opts.Format == "csv" {
		fields = splitCSV(row[:len(row)-1], cm.opts)
	} else {
		fields = splitText(row[:len(row)-1], cm.opts.Delimiter)
	}
	if len(fields) != len(cm.maskers) {
		return nil, fmt.Errorf("%w: a COPY row of %d fields for %d columns", errUnexpected, len(fields), len(cm.maskers))
	}
	out := s.data.Data[:0]
	for i, field := range fields {
		if i > 0 {
			out = append(out, cm.opts.Delimiter)
		}
		mk := cm.maskers[i]
		if mk == nil {
			out = append(out, field...)
			continue
		}
		var value []byte
		var null bool
		if cm.opts.Format == "csv" {
			value, null = csvValue(field, cm.opts)
		} else {
			value, null = textValue(field, cm.opts)
		}
		if null {
			out = append(out, field...)
			continue
		}
		masked, isNull := mk(nil, value)
		if isNull || !bytes.Equal(masked, value) {
			s.cells.Add(1)
		}
		switch {
		case isNull:
			out = append(out, cm.opts.Null...)
		case cm.opts.Format == "csv":
			out = appendCSV(out, masked, cm.opts)
		default:
			out = appendText(out, masked, cm.opts.Delimiter)
		}
	}
	s.data.Data = append(out, '\n')
	return &s.data, nil
}
