// Package lineage follows sensitive values through a statement's raw parse tree: for every
// result column it tells whether the value is a masked column passed through unchanged
// ("direct": PostgreSQL reports the column as the result's origin, so the value can be
// masked by that column's rule) or computed from masked columns ("derived": the origin is
// lost, so only a fallback can protect it), and it lists what else a statement does with
// sensitive values: filters on them (inference), copies them where they would come back
// unmasked, moves the objects that hold them, or reads them around lineage altogether.
//
// The analysis over-approximates. Names are resolved conservatively: an unqualified table
// name may mean a table of that name in any schema, a column name that several FROM items
// could supply takes the taint of all of them, and any expression that mentions a tainted
// column (or a whole row, or a star) is tainted. What cannot be analysed is refused. A
// statement may therefore be treated as more sensitive than it is, never less.
//
// Relations come from a Resolver, which knows the catalog and the masking rules; the package
// itself knows nothing of either. Taints are sets of rule indexes.
package lineage
