package audit

import "fmt"

// diagnose explains a chain break at e: the line does not link to v.last (the last line
// that did) or does not carry the next sequence number. It reads up to Lookahead further
// lines and uses the hash links among them to tell a modified record from deleted,
// inserted and reordered ones, and reports the position where the damage is.
func (v *verifier) diagnose(e *entry) *Problem {
	last := v.last
	want := last.rec.Seq + 1
	lastHash := hexHash(last.hash)
	ahead := []*entry{e}
	for len(ahead) <= v.opts.Lookahead {
		n, err := v.rd.read()
		if err != nil {
			break // end of the log (or unreadable): diagnose with what there is
		}
		ahead = append(ahead, n)
	}
	links := func(x *entry, prev string) bool { return x.rec != nil && x.rec.Prev == prev }
	at := func(x *entry, kind ProblemKind, seq uint64, format string, args ...any) *Problem {
		return &Problem{Kind: kind, At: x.pos, Seq: seq, Detail: fmt.Sprintf(format, args...)}
	}

	// The true successor of last appears further on: the lines before it do not belong
	// here. If the chain refers to the first of them later, it was moved; else inserted.
	for m := 1; m < len(ahead); m++ {
		if !links(ahead[m], lastHash) || ahead[m].rec.Seq != want {
			continue
		}
		stray := ahead[0]
		for _, y := range ahead[1:] {
			if links(y, hexHash(stray.hash)) {
				return at(stray, Reordered, stray.rec.Seq,
					"record seq %d stands before seq %d (%s), which must directly follow seq %d (%s): records were reordered",
					stray.rec.Seq, want, ahead[m].pos, last.rec.Seq, last.pos)
			}
		}
		return at(stray, Inserted, want,
			"this line is not part of the chain, which continues with seq %d at %s: it was inserted", want, ahead[m].pos)
	}

	switch got := e.rec.Seq; {
	case links(e, lastHash):
		// It links to its predecessor, so only its own sequence number can be wrong.
		return at(e, Modified, want, "the record carries seq %d where %d is due: its sequence number was edited", got, want)

	case got > want:
		for _, y := range ahead[1:] {
			if y.rec != nil && y.rec.Seq == want {
				return at(e, Reordered, want, "seq %d is due here but stands later, at %s: records were reordered", want, y.pos)
			}
		}
		what := fmt.Sprintf("record seq %d is", want)
		if got-1 > want {
			what = fmt.Sprintf("records seq %d to %d are", want, got-1)
		}
		return at(e, Deleted, want, "%s missing between %s and this line: deleted", what, last.pos)

	case got == want:
		// The line is in its place but does not link: either its predecessor changed
		// (so its hash did) or its own Prev was edited. The line after tells which.
		if len(ahead) > 1 && links(ahead[1], hexHash(e.hash)) {
			return at(last, Modified, last.rec.Seq, "the record was modified: its hash no longer matches the prev of seq %d (%s)", want, e.pos)
		}
		if len(ahead) > 1 {
			return at(e, Modified, want, "the record was modified: its prev field no longer matches seq %d (%s)", last.rec.Seq, last.pos)
		}
		return at(e, Modified, want, "this last record or the one before it (%s) was modified", last.pos)

	case e.rec.Prev == last.rec.Prev && len(ahead) > 1 && links(ahead[1], hexHash(e.hash)):
		// Two lines claim the same place and the chain continues from this one: the
		// line before it, already accepted, is the impostor.
		return at(last, Inserted, last.rec.Seq,
			"this line and %s both claim seq %d and the chain continues from the latter: this one was inserted", e.pos, last.rec.Seq)

	default:
		return at(e, Inserted, got, "seq %d repeats an earlier sequence number: the line was inserted or copied", got)
	}
}
