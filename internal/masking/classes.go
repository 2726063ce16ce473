package masking

import (
	"context"
)

// classOf classifies a type: built-in types by OID, others through the catalog (a domain
// as its base type, a string-category type such as citext as a string).
func (r *resolver) classOf(ctx context.Context, oid uint32) class {
	for range 8 { // domains over domains, boundedly
		if c, ok := builtinClasses[oid]; ok {
			return c
		}
		t, err := r.cat.Type(ctx, oid)
		if err != nil || t == nil {
			return classOther
		}
		if t.Base == 0 {
			if t.Category == 'S' {
				return classString
			}
			return classOther
		}
		oid = t.Base
	}
	return classOther
}

// column describes a result column for building its masker.
func (r *resolver) describe(ctx context.Context, oid uint32, typmod int32, binary bool) column {
	return column{oid: oid, typmod: typmod, cls: r.classOf(ctx, oid), binary: binary}
}

// caster converts a redact value for a column through the server.
func (r *resolver) caster(ctx context.Context, rule *Rule, c column) func() ([]byte, []byte, error) {
	return func() ([]byte, []byte, error) {
		return r.cat.Cast(ctx, *rule.Value, c.oid, c.typmod)
	}
}

// checkStrategy reports whether a rule's strategy can produce valid text values of a type.
func (r *resolver) checkStrategy(ctx context.Context, rule *Rule, oid uint32, typmod int32) error {
	c := r.describe(ctx, oid, typmod, false)
	_, err := (&factory{}).strategyMasker(rule, c, r.caster(ctx, rule, c))
	return err
}
