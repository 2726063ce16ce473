package policy

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"
)

//go:embed packs/*.yaml
var packFS embed.FS

// LoadFile reads and validates a policy file. Errors name the file, the line and the key.
func LoadFile(name string) (*RuleSet, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return Parse(name, data)
}

// Parse validates a policy document; name is used in errors and as the RuleSet's Source.
func Parse(name string, data []byte) (*RuleSet, error) {
	spec, lines, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	rs := &RuleSet{Source: name, Default: Allow, SearchPath: []string{"public"}}
	if spec.SearchPath != nil {
		rs.SearchPath = spec.SearchPath
	}
	if spec.Default != "" {
		if rs.Default, err = parseAction(spec.Default); err != nil {
			return nil, fmt.Errorf("%s:%d: default: %w", name, lines.key("default"), err)
		}
		if rs.Default == Warn {
			return nil, fmt.Errorf("%s:%d: default: warn is not a final action", name, lines.key("default"))
		}
	}
	for i, e := range spec.Rules {
		at := fmt.Sprintf("%s:%d", name, lines.rule(i))
		if e.Pack != "" {
			rules, err := includePack(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", at, err)
			}
			rs.Rules = append(rs.Rules, rules...)
			continue
		}
		r, err := compileRule(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		rs.Rules = append(rs.Rules, r)
	}
	return rs, nil
}

// Packs lists the rule packs a policy can include.
func Packs() []string {
	entries, _ := packFS.ReadDir("packs")
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	return names
}

// includePack compiles an embedded pack. The include may override the action of every rule
// in it and restrict it to identities, which is how the migration pack is set to review for
// one group and warn for another.
func includePack(e entrySpec) ([]Rule, error) {
	if e.Name != "" || e.Message != "" {
		return nil, errors.New("a pack entry takes only pack, action and match")
	}
	data, err := packFS.ReadFile("packs/" + e.Pack + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("unknown pack %q (have %s)", e.Pack, strings.Join(Packs(), ", "))
	}
	file := "pack " + e.Pack
	spec, lines, err := decode(file, data)
	if err != nil {
		return nil, err
	}
	if spec.Default != "" || spec.SearchPath != nil {
		return nil, fmt.Errorf("%s: a pack has no default or search_path", file)
	}
	var override Action
	if e.Action != "" {
		if override, err = parseAction(e.Action); err != nil {
			return nil, err
		}
	}
	var only Matcher
	if e.Match != nil {
		if !e.Match.identityOnly() {
			return nil, errors.New("a pack's match takes only issuers, subjects and groups")
		}
		if only, err = e.Match.compile(); err != nil {
			return nil, err
		}
	}
	rules := make([]Rule, 0, len(spec.Rules))
	for i, pe := range spec.Rules {
		if pe.Pack != "" {
			return nil, fmt.Errorf("%s:%d: packs do not include packs", file, lines.rule(i))
		}
		r, err := compileRule(pe)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, lines.rule(i), err)
		}
		if override != "" {
			r.Action = override
		}
		r.Match.Issuers, r.Match.Subjects, r.Match.Groups = only.Issuers, only.Subjects, only.Groups
		rules = append(rules, r)
	}
	return rules, nil
}

func compileRule(e entrySpec) (Rule, error) {
	if e.Name == "" {
		return Rule{}, errors.New("a rule needs a name (or pack)")
	}
	r := Rule{Name: e.Name, Message: e.Message}
	var err error
	if r.Action, err = parseAction(e.Action); err != nil {
		return Rule{}, fmt.Errorf("rule %q: %w", e.Name, err)
	}
	if e.Match != nil {
		if r.Match, err = e.Match.compile(); err != nil {
			return Rule{}, fmt.Errorf("rule %q: %w", e.Name, err)
		}
	}
	return r, nil
}
