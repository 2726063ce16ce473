package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// DecideStartup decides on the parameters of a client's StartupMessage. Every parameter
// other than user and database is a setting, and the same rules that judge SET judge it
// (SET role and options=-c role=x are one thing); the client encoding must be UTF-8.
// Parameters that no rule decides are allowed whatever the policy's default: drivers send
// DateStyle, TimeZone, extra_float_digits... and the dangerous ones are enumerated.
func (e *Engine) DecideStartup(id Identity, params map[string]string) Decision {
	rs := e.state.Load().rules
	settings, err := startupSettings(params)
	if err != nil {
		st := classify.Statement{Command: "STARTUP", Class: classify.ClassMiscSet, Classes: classify.ClassMiscSet}
		return Decision{Action: Deny, Rule: RuleStartupOptions, Message: err.Error(), Statement: 0,
			Classification: &classify.Classification{Statements: []classify.Statement{st}}}
	}
	// One pseudo-statement per parameter, so that a rule allowing one parameter cannot
	// carry another through with it.
	c := &classify.Classification{}
	for _, s := range settings {
		c.Statements = append(c.Statements, classify.Statement{
			Text:     s.Name + "=" + s.Value,
			Command:  "STARTUP",
			Class:    classify.ClassMiscSet,
			Classes:  classify.ClassMiscSet,
			Settings: []classify.Setting{s},
			Flags:    classify.FlagSessionState,
		})
	}
	d := rs.decide(&id, c, ^classify.Flag(0), Allow)
	if d.Rule == RuleEmpty {
		d.Rule = RuleDefault
	}
	return d
}

// startupSettings turns startup parameters into settings, in a stable order. Parameters
// that restate the server's required state (UTF-8, standard-conforming strings on, no
// replication) are dropped: they change nothing.
func startupSettings(params map[string]string) ([]classify.Setting, error) {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []classify.Setting
	for _, k := range keys {
		v := params[k]
		name := strings.ToLower(k)
		switch name {
		case "user", "database":
			continue
		case "options":
			opts, err := splitOptions(v)
			if err != nil {
				return nil, err
			}
			out = append(out, opts...)
			continue
		}
		out = append(out, classify.Setting{Name: name, Value: v, Known: true})
	}
	return slices.DeleteFunc(out, restatesDefault), nil
}

func restatesDefault(s classify.Setting) bool {
	switch s.Name {
	case "client_encoding":
		return isUTF8(s.Value)
	case "standard_conforming_strings":
		return parseBool(s.Value) == 1
	case "replication":
		return parseBool(s.Value) == 0
	}
	return false
}

// parseBool follows PostgreSQL's parse_bool: 1 true, 0 false, -1 neither.
func parseBool(s string) int {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "1" || s == "on" || s != "" && (strings.HasPrefix("true", s) || strings.HasPrefix("yes", s)):
		return 1
	case s == "0" || s == "off" || s != "" && (strings.HasPrefix("false", s) || strings.HasPrefix("no", s)):
		return 0
	}
	return -1
}

// splitOptions reads the startup "options" parameter the way the backend does
// (pg_split_opts: whitespace separates, backslash escapes) and accepts only settings:
// "-c name=value", "-cname=value" and "--name=value". Other backend switches are refused.
func splitOptions(s string) ([]classify.Setting, error) {
	var args []string
	var cur strings.Builder
	inArg, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, inArg = true, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteRune(r)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	var out []classify.Setting
	for i := 0; i < len(args); i++ {
		a := args[i]
		var kv string
		switch {
		case a == "-c" && i+1 < len(args):
			i++
			kv = args[i]
		case strings.HasPrefix(a, "-c") && len(a) > 2:
			kv = a[2:]
		case strings.HasPrefix(a, "--") && len(a) > 2:
			kv = a[2:]
		default:
			return nil, fmt.Errorf("startup option %q is not a -c name=value setting", a)
		}
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, errors.New("startup option -c needs name=value")
		}
		out = append(out, classify.Setting{Name: strings.ToLower(strings.ReplaceAll(name, "-", "_")), Value: value, Known: true})
	}
	return out, nil
}
