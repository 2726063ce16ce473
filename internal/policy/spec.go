package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/internal/policy/classify"
)

// fileSpec is the YAML shape of a policy file (and of a pack). Decoding is strict: unknown
// keys are errors.
type fileSpec struct {
	Default    string      `yaml:"default"`
	SearchPath []string    `yaml:"search_path"`
	Rules      []entrySpec `yaml:"rules"`
}

// entrySpec is one entry of rules: either a rule or the inclusion of a rule pack.
type entrySpec struct {
	Name    string     `yaml:"name"`
	Pack    string     `yaml:"pack"`
	Action  string     `yaml:"action"`
	Message string     `yaml:"message"`
	Match   *matchSpec `yaml:"match"`
}

type matchSpec struct {
	Issuers   []string `yaml:"issuers"`
	Subjects  []string `yaml:"subjects"`
	Groups    []string `yaml:"groups"`
	Classes   []string `yaml:"classes"`
	Commands  []string `yaml:"commands"`
	Objects   []string `yaml:"objects"`
	Actions   []string `yaml:"actions"`
	Functions []string `yaml:"functions"`
	Flags     []string `yaml:"flags"`
	Settings  []string `yaml:"settings"`
	MinLock   string   `yaml:"min_lock"`
}

func (s *matchSpec) identityOnly() bool {
	rest := *s
	rest.Issuers, rest.Subjects, rest.Groups = nil, nil, nil
	return rest.isZero()
}

func (s *matchSpec) isZero() bool {
	return len(s.Issuers)+len(s.Subjects)+len(s.Groups)+len(s.Classes)+len(s.Commands)+len(s.Objects)+
		len(s.Actions)+len(s.Functions)+len(s.Flags)+len(s.Settings) == 0 && s.MinLock == ""
}

func (s *matchSpec) compile() (Matcher, error) {
	m := Matcher{
		Issuers:   s.Issuers,
		Subjects:  s.Subjects,
		Groups:    s.Groups,
		Objects:   s.Objects,
		Functions: s.Functions,
	}
	for _, c := range s.Commands {
		m.Commands = append(m.Commands, strings.ToUpper(c))
	}
	for _, v := range s.Settings {
		m.Settings = append(m.Settings, strings.ToLower(v))
	}
	for _, key := range []struct {
		name     string
		patterns []string
	}{{"issuers", m.Issuers}, {"subjects", m.Subjects}, {"groups", m.Groups}, {"commands", m.Commands},
		{"objects", m.Objects}, {"functions", m.Functions}, {"settings", m.Settings}} {
		for _, p := range key.patterns {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return Matcher{}, fmt.Errorf("%s: bad pattern %q", key.name, p)
			}
		}
	}
	for _, c := range s.Classes {
		cl, err := classify.ParseClass(c)
		if err != nil {
			return Matcher{}, fmt.Errorf("classes: %w", err)
		}
		m.Classes |= cl
	}
	for _, f := range s.Flags {
		fl, err := classify.ParseFlag(f)
		if err != nil {
			return Matcher{}, fmt.Errorf("flags: %w", err)
		}
		m.Flags |= fl
	}
	for _, a := range s.Actions {
		if !validAction(classify.Action(a)) {
			return Matcher{}, fmt.Errorf("actions: unknown action %q (want one of %v)", a, classify.Actions)
		}
		m.Actions = append(m.Actions, classify.Action(a))
	}
	if s.MinLock != "" {
		var err error
		if m.MinLock, err = classify.ParseLock(s.MinLock); err != nil {
			return Matcher{}, fmt.Errorf("min_lock: %w", err)
		}
	}
	return m, nil
}

func validAction(a classify.Action) bool { return slices.Contains(classify.Actions, a) }
