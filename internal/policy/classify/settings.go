package classify

import (
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
)

func (w *walker) variableSet(n *pg.VariableSetStmt) {
	w.st.Flags |= FlagSessionState
	switch n.GetKind() {
	case pg.VariableSetKind_VAR_RESET, pg.VariableSetKind_VAR_RESET_ALL, pg.VariableSetKind_VAR_SET_DEFAULT:
		// RESET returns a parameter to its session start value, which the startup check
		// has vetted, so it records no setting; it is still a session-state change.
		w.command("RESET", ClassMiscSet)
		if n.GetKind() == pg.VariableSetKind_VAR_SET_DEFAULT {
			w.st.Command = "SET"
		}
	default:
		w.command("SET", ClassMiscSet)
		if set, ok := settingOf(n); ok {
			w.st.Settings = append(w.st.Settings, set)
		}
	}
	if strings.EqualFold(n.GetName(), "lock_timeout") && n.GetKind() == pg.VariableSetKind_VAR_SET_VALUE {
		w.q.lockTimeout = true
	}
	w.children(n.ProtoReflect())
}

// settingOf reads the parameter and value of a SET. The grammar turns SET ROLE, SET SESSION
// AUTHORIZATION, SET NAMES, SET TIME ZONE and SET SCHEMA into their parameter names.
func settingOf(n *pg.VariableSetStmt) (Setting, bool) {
	switch n.GetKind() {
	case pg.VariableSetKind_VAR_SET_VALUE, pg.VariableSetKind_VAR_SET_CURRENT, pg.VariableSetKind_VAR_SET_MULTI:
	default:
		return Setting{}, false
	}
	set := Setting{Name: strings.ToLower(n.GetName())}
	if n.GetKind() != pg.VariableSetKind_VAR_SET_VALUE {
		return set, true
	}
	vals := make([]string, 0, len(n.GetArgs()))
	for _, a := range n.GetArgs() {
		v, ok := constString(a)
		if !ok {
			return set, true
		}
		vals = append(vals, v)
	}
	set.Value, set.Known = strings.Join(vals, ", "), true
	return set, true
}

// constString is the text of a constant (looking through casts), as PostgreSQL would hand
// it to the parameter's input function. Only settings read constants; see
// Classification.ValueFree before reading one anywhere else.
func constString(n *pg.Node) (string, bool) {
	if tc := n.GetTypeCast(); tc != nil {
		return constString(tc.GetArg())
	}
	c := n.GetAConst()
	if c == nil || c.GetIsnull() {
		return "", false
	}
	switch v := c.GetVal().(type) {
	case *pg.A_Const_Sval:
		return v.Sval.GetSval(), true
	case *pg.A_Const_Ival:
		return strconv.Itoa(int(v.Ival.GetIval())), true
	case *pg.A_Const_Fval:
		return v.Fval.GetFval(), true
	case *pg.A_Const_Boolval:
		return strconv.FormatBool(v.Boolval.GetBoolval()), true
	}
	return "", false
}

// setConfig records set_config(name, value, is_local): a SET in function clothing, so
// session-state rules apply to it alike. A computed name is an unknown setting.
func (w *walker) setConfig(fc *pg.FuncCall) {
	w.st.Flags |= FlagSessionState
	var name, value *pg.Node
	for i, a := range fc.GetArgs() {
		if na := a.GetNamedArgExpr(); na != nil {
			switch na.GetName() {
			case "setting_name":
				name = na.GetArg()
			case "new_value":
				value = na.GetArg()
			}
			continue
		}
		switch i {
		case 0:
			name = a
		case 1:
			value = a
		}
	}
	set := Setting{}
	if s, ok := constString(name); ok {
		set.Name = strings.ToLower(s)
	} else {
		w.st.Flags |= FlagDynamicSQL
	}
	set.Value, set.Known = constString(value)
	if set.Name == "lock_timeout" {
		w.q.lockTimeout = true
	}
	w.st.Settings = append(w.st.Settings, set)
}
