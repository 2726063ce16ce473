package lineage

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

// copyStmt analyses COPY. COPY FROM brings data in; COPY TO a file or program sends it
// where no masking applies (a copy to an unmasked destination); COPY TO STDOUT is a result.
func (a *analyzer) copyStmt(st *pg.CopyStmt) {
	if st.GetIsFrom() {
		return
	}
	var outs []Output
	exact := true
	if q := st.GetQuery(); q != nil {
		outs, exact = a.nested(nil, q)
	} else {
		rels := a.relations(st.GetRelation())
		cols := relationColumns(rels)
		exact = len(rels) > 0
		if list := fieldNames(st.GetAttlist()); len(list) > 0 {
			outs = pick(cols, list)
		} else {
			for _, c := range cols {
				if !generated(rels, c.Name) {
					outs = append(outs, c)
				}
			}
		}
	}
	if !exact {
		all := union(outs, false)
		for i := range outs {
			outs[i].Taint = all
		}
	}
	if st.GetFilename() != "" || st.GetIsProgram() {
		src := union(outs, false)
		a.res.Copies = append(a.res.Copies, Copy{Table: "(server file or program)", Source: src})
		return
	}
	a.outputs(KindCopyOut, outs)
	a.res.CopyOut = copyOptions(st.GetOptions())
}

// pick returns the named columns, in the list's order; a name the relation lacks gets an
// unknown column (the server will refuse the COPY).
func pick(cols []Output, names []string) []Output {
	out := make([]Output, 0, len(names))
	for _, n := range names {
		o := Output{Name: n}
		for _, c := range cols {
			if c.Name == n {
				o = c
			}
		}
		out = append(out, o)
	}
	return out
}

func generated(rels []*Relation, name string) bool {
	for _, r := range rels {
		for _, c := range r.Columns {
			if c.Name == name && c.Generated {
				return true
			}
		}
	}
	return false
}

// copyOptions reads COPY's options with PostgreSQL's defaults per format.
func copyOptions(opts []*pg.Node) *CopyOut {
	c := &CopyOut{Format: "text"}
	set := map[string]string{}
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		val := d.GetArg().GetString_().GetSval()
		if b := d.GetArg().GetBoolean(); b != nil {
			val = "false"
			if b.GetBoolval() {
				val = "true"
			}
		}
		if d.GetArg() == nil {
			val = "true"
		}
		set[d.GetDefname()] = val
	}
	if f, ok := set["format"]; ok {
		c.Format = strings.ToLower(f)
	}
	switch c.Format {
	case "csv":
		c.Delimiter, c.Quote, c.Null = ',', '"', ""
	default:
		c.Delimiter, c.Null = '\t', `\N`
	}
	if v, ok := set["delimiter"]; ok && len(v) == 1 {
		c.Delimiter = v[0]
	}
	if v, ok := set["quote"]; ok && len(v) == 1 {
		c.Quote = v[0]
	}
	c.Escape = c.Quote
	if v, ok := set["escape"]; ok && len(v) == 1 {
		c.Escape = v[0]
	}
	if v, ok := set["null"]; ok {
		c.Null = v
	}
	switch strings.ToLower(set["header"]) {
	case "true", "on", "1", "match":
		c.Header = true
	}
	c.Encoding = set["encoding"]
	return c
}
