package lineage

// entry is one item of a FROM clause as names resolve against it: a relation, a subquery,
// a CTE reference, a function call, or a join's alias.
type entry struct {
	// name qualifies its columns (the alias, or the relation's name); schema is set for
	// relations, for schema-qualified references.
	name, schema string
	cols         []Output
	// known is false when the entry's column names are not all known (a function call, a
	// relation the catalog does not have, a subquery column whose name could not be
	// figured): any name may then resolve to it, carrying opaque.
	known  bool
	opaque Taint
}

// rowTaint is the taint of a whole-row reference to the entry: every column, computed.
func (e *entry) rowTaint() Taint {
	t := e.opaque
	for _, c := range e.cols {
		t = t.Or(c.Taint)
	}
	return t.Derive()
}

// scope is one query level: its FROM entries, the names merged by JOIN USING or NATURAL,
// its CTEs, and the enclosing level (correlated and lateral references).
type scope struct {
	entries []*entry
	// merged columns of USING/NATURAL joins: unqualified, they are the join's computed
	// column (a COALESCE for FULL joins, and no origin is reported for it), so their taint
	// is derived from both sides.
	merged map[string]Taint
	// mergedNames keeps the merged columns in the order a star lists them.
	mergedNames []string
	ctes        map[string]*entry
	parent      *scope
}

func newScope(parent *scope) *scope {
	return &scope{parent: parent}
}

func (s *scope) cte(name string) *entry {
	for sc := s; sc != nil; sc = sc.parent {
		if e, ok := sc.ctes[name]; ok {
			return e
		}
	}
	return nil
}

func (s *scope) addCTE(e *entry) {
	if s.ctes == nil {
		s.ctes = map[string]*entry{}
	}
	s.ctes[e.name] = e
}

func (s *scope) merge(name string, t Taint) {
	if s.merged == nil {
		s.merged = map[string]Taint{}
	}
	if _, ok := s.merged[name]; !ok {
		s.mergedNames = append(s.mergedNames, name)
	}
	s.merged[name] = s.merged[name].Or(t.Derive())
}

// column resolves an unqualified column name. It unions everything the name could denote
// at the innermost level where it is certainly found, and everything it could denote at
// the levels searched before: columns of known entries, merged join columns, whole-row
// references to entries of that name, and the opaque taint of entries whose columns are
// unknown.
func (s *scope) column(name string) Output {
	out := Output{Name: name, Plain: true}
	for sc := s; sc != nil; sc = sc.parent {
		found := false
		if m, ok := sc.merged[name]; ok {
			out.Taint, found = out.Taint.Or(m), true
		}
		for _, e := range sc.entries {
			for _, c := range e.cols {
				if c.Name == name {
					out.add(c)
					found = true
				}
			}
			if !e.known {
				out.Taint = out.Taint.Or(e.opaque.Derive())
			}
			if e.name == name {
				out.Taint, found = out.Taint.Or(e.rowTaint()), true
			}
		}
		if found {
			return out
		}
	}
	return out
}

// add unions a column the name may denote into o, keeping the type of the first one.
func (o *Output) add(c Output) {
	o.Taint = o.Taint.Or(c.Taint)
	if o.Type == 0 {
		o.Type, o.Typmod = c.Type, c.Typmod
	}
}

// qualified resolves qualifier.name: the column of every entry so named at the innermost
// level that has one. found is false when no entry has that name.
func (s *scope) qualified(qualifier, name string) (out Output, found bool) {
	out = Output{Name: name, Plain: true}
	for sc := s; sc != nil; sc = sc.parent {
		for _, e := range sc.entries {
			if e.name != qualifier {
				continue
			}
			found = true
			if !e.known {
				out.Taint = out.Taint.Or(e.opaque.Derive())
			}
			for _, c := range e.cols {
				if c.Name == name {
					out.add(c)
				}
			}
		}
		if found {
			return out, true
		}
	}
	return out, false
}

// qualifiedStar expands qualifier.*; exact is false when an entry's columns are unknown.
func (s *scope) qualifiedStar(qualifier string) (cols []Output, found, exact bool) {
	exact = true
	for sc := s; sc != nil; sc = sc.parent {
		for _, e := range sc.entries {
			if e.name != qualifier {
				continue
			}
			found = true
			cols = append(cols, e.cols...)
			if !e.known {
				exact = false
				cols = append(cols, Output{Name: "?column?", Taint: e.opaque.Derive()})
			}
		}
		if found {
			return cols, true, exact
		}
	}
	return nil, false, true
}

// star expands an unqualified * at this level. exact is false when the columns' positions
// are not certain: merged join columns (listed once, first, by PostgreSQL) or entries whose
// columns are unknown.
func (s *scope) star() (out []Output, exact bool) {
	exact = len(s.mergedNames) == 0
	for _, n := range s.mergedNames {
		out = append(out, Output{Name: n, Taint: s.merged[n]})
	}
	for _, e := range s.entries {
		out = append(out, e.cols...)
		if !e.known {
			exact = false
			out = append(out, Output{Name: "?column?", Taint: e.opaque.Derive()})
		}
	}
	return out, exact
}
