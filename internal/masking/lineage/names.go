package lineage

import (
	pg "github.com/pganalyze/pg_query_go/v6"
)

// figureName is PostgreSQL's default name for a result column without an alias
// (FigureColname in parse_target.c), for the expressions whose rule is simple to follow.
// certain is false for the others, whose column then counts as possibly named anything.
func figureName(n *pg.Node) (name string, certain bool) {
	name, strength := figure(n)
	switch {
	case strength < 0:
		return "?column?", false
	case strength == 0:
		return "?column?", true
	}
	return name, true
}

// figure returns a name and its strength as FigureColnameInternal does: 2 for a name taken
// from the expression, 1 for a fallback such as "case", 0 for none ("?column?"); -1 when
// the rule for the node is not followed here.
func figure(n *pg.Node) (string, int) {
	switch v := n.GetNode().(type) {
	case *pg.Node_ColumnRef:
		names := fieldNames(v.ColumnRef.GetFields())
		if len(names) > 0 && names[len(names)-1] != "*" {
			return names[len(names)-1], 2
		}
		return "", 0
	case *pg.Node_AIndirection:
		ind := v.AIndirection.GetIndirection()
		for i := len(ind) - 1; i >= 0; i-- {
			if s := ind[i].GetString_(); s != nil {
				return s.GetSval(), 2
			}
			if ind[i].GetAStar() != nil {
				return "", 0
			}
		}
		return figure(v.AIndirection.GetArg())
	case *pg.Node_FuncCall:
		_, name := funcName(v.FuncCall.GetFuncname())
		return name, 2
	case *pg.Node_TypeCast:
		name, s := figure(v.TypeCast.GetArg())
		if s == 2 || s < 0 {
			return name, s
		}
		names := fieldNames(v.TypeCast.GetTypeName().GetNames())
		if len(names) > 0 {
			return names[len(names)-1], 1
		}
		return "", -1
	case *pg.Node_CollateClause:
		return figure(v.CollateClause.GetArg())
	case *pg.Node_CaseExpr:
		name, s := figure(v.CaseExpr.GetDefresult())
		if s <= 1 && s >= 0 {
			return "case", 1
		}
		return name, s
	case *pg.Node_AArrayExpr:
		return "array", 2
	case *pg.Node_RowExpr:
		return "row", 2
	case *pg.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg.Node_MinMaxExpr:
		if v.MinMaxExpr.GetOp() == pg.MinMaxOp_IS_GREATEST {
			return "greatest", 2
		}
		return "least", 2
	case *pg.Node_GroupingFunc:
		return "grouping", 2
	case *pg.Node_AExpr:
		if v.AExpr.GetKind() == pg.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
		return "", 0
	case *pg.Node_SubLink:
		switch v.SubLink.GetSubLinkType() {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg.SubLinkType_EXPR_SUBLINK:
			sel := v.SubLink.GetSubselect().GetSelectStmt()
			if list := sel.GetTargetList(); len(list) == 1 && sel.GetOp() == pg.SetOperation_SETOP_NONE {
				rt := list[0].GetResTarget()
				if rt.GetName() != "" {
					return rt.GetName(), 2
				}
				if name, s := figure(rt.GetVal()); s == 2 {
					return name, 2
				}
			}
			return "", -1
		}
		return "", 0
	case *pg.Node_AConst, *pg.Node_ParamRef, *pg.Node_BoolExpr, *pg.Node_NullTest, *pg.Node_BooleanTest:
		return "", 0
	}
	return "", -1
}
