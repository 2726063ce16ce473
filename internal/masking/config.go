package masking

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/sluicehq/sluice/internal/masking/detect"
	"github.com/sluicehq/sluice/internal/masking/lineage"
	"github.com/sluicehq/sluice/internal/yamlfile"
)

// fileSpec is the YAML shape of a masking file. Decoding is strict: unknown keys are errors.
type fileSpec struct {
	Unattributed string              `yaml:"unattributed"`
	Detectors    []string            `yaml:"detectors"`
	Tags         map[string][]string `yaml:"tags"`
	Rules        []ruleSpec          `yaml:"rules"`
}

type ruleSpec struct {
	Name       string   `yaml:"name"`
	Columns    []string `yaml:"columns"`
	Tags       []string `yaml:"tags"`
	Strategy   string   `yaml:"strategy"`
	KeepFirst  int      `yaml:"keep_first"`
	KeepLast   int      `yaml:"keep_last"`
	Value      *string  `yaml:"value"`
	Clear      []string `yaml:"clear"`
	Fallback   string   `yaml:"fallback"`
	Predicates string   `yaml:"predicates"`
	Copies     string   `yaml:"copies"`
}

// LoadFile reads and validates a masking file. Errors name the file, the line and the key.
func LoadFile(name string) (*RuleSet, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("masking: %w", err)
	}
	return Parse(name, data)
}

// Parse validates a masking document; name is used in errors and as the RuleSet's Source.
func Parse(name string, data []byte) (*RuleSet, error) {
	var spec fileSpec
	root, err := yamlfile.Decode(name, data, &spec)
	if errors.Is(err, yamlfile.ErrEmpty) {
		return nil, fmt.Errorf("%s: empty masking document", name)
	}
	if err != nil {
		return nil, err
	}
	at := func(keys ...any) string { return fmt.Sprintf("%s:%d", name, yamlfile.Line(root, keys...)) }
	rs := &RuleSet{Source: name, Unattributed: true, Detectors: detect.Kinds()}
	switch spec.Unattributed {
	case "", "detect":
	case "pass":
		rs.Unattributed = false
	default:
		return nil, fmt.Errorf("%s: unattributed: %q is not detect or pass", at("unattributed"), spec.Unattributed)
	}
	if spec.Detectors != nil {
		rs.Detectors = nil
		for i, d := range spec.Detectors {
			k, err := detect.ParseKind(d)
			if err != nil {
				return nil, fmt.Errorf("%s: detectors: %w", at("detectors", i), err)
			}
			rs.Detectors = append(rs.Detectors, k)
		}
	}
	for tag, patterns := range spec.Tags {
		for i, p := range patterns {
			if err := checkColumnPattern(p); err != nil {
				return nil, fmt.Errorf("%s: tags: %s: %w", at("tags", tag, i), tag, err)
			}
		}
	}
	names := map[string]bool{}
	for i, r := range spec.Rules {
		rule, key, err := compileRule(r, spec.Tags)
		if err != nil {
			where := at("rules", i)
			if key != "" {
				where = at("rules", i, key)
			}
			return nil, fmt.Errorf("%s: rule %q: %s: %w", where, r.Name, key, err)
		}
		if names[rule.Name] {
			return nil, fmt.Errorf("%s: rule %q: name: defined twice", at("rules", i, "name"), r.Name)
		}
		names[rule.Name] = true
		rule.Line = yamlfile.Line(root, "rules", i)
		rs.Rules = append(rs.Rules, rule)
	}
	if len(rs.Rules) > 0 {
		b := builtinStatistics
		rs.Rules = append(rs.Rules, &b)
	}
	if len(rs.Rules) > lineage.MaxRules {
		return nil, fmt.Errorf("%s: %d rules: at most %d are supported", at("rules"), len(rs.Rules), lineage.MaxRules-1)
	}
	return rs, nil
}

// compileRule validates one rule; on error it returns the key at fault.
func compileRule(r ruleSpec, tags map[string][]string) (*Rule, string, error) {
	if r.Name == "" {
		return nil, "name", errors.New("a rule needs a name")
	}
	if strings.HasPrefix(r.Name, "builtin/") {
		return nil, "name", errors.New("names starting with builtin/ are reserved")
	}
	rule := &Rule{Name: r.Name, KeepFirst: r.KeepFirst, KeepLast: r.KeepLast, Value: r.Value, Clear: r.Clear}
	for _, p := range r.Columns {
		if err := checkColumnPattern(p); err != nil {
			return nil, "columns", err
		}
		rule.Columns = append(rule.Columns, p)
	}
	for _, t := range r.Tags {
		patterns, ok := tags[t]
		if !ok {
			return nil, "tags", fmt.Errorf("unknown tag %q", t)
		}
		rule.Columns = append(rule.Columns, patterns...)
	}
	if len(rule.Columns) == 0 {
		return nil, "columns", errors.New("a rule needs columns or tags")
	}
	for _, p := range r.Clear {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			return nil, "clear", fmt.Errorf("bad group pattern %q", p)
		}
	}
	switch s := StrategyKind(r.Strategy); s {
	case Redact, Partial, Hash, Email, Detect:
		rule.Strategy = s
	default:
		return nil, "strategy", fmt.Errorf("%q is not redact, partial, hash, email or detect", r.Strategy)
	}
	if r.Value != nil && rule.Strategy != Redact {
		return nil, "value", errors.New("only redact takes a value")
	}
	if (r.KeepFirst != 0 || r.KeepLast != 0) && rule.Strategy != Partial {
		return nil, "keep_first", errors.New("only partial keeps characters")
	}
	if r.KeepFirst < 0 || r.KeepLast < 0 || r.KeepFirst+r.KeepLast > 64 {
		return nil, "keep_last", errors.New("keep_first and keep_last must be between 0 and 64 in all")
	}
	if rule.Strategy == Partial && r.KeepFirst+r.KeepLast == 0 {
		rule.KeepLast = 4
	}
	switch Fallback(r.Fallback) {
	case "", FallbackDeny:
		rule.Fallback = FallbackDeny
	case FallbackDetect:
		rule.Fallback = FallbackDetect
	default:
		return nil, "fallback", fmt.Errorf("%q is not deny or detect", r.Fallback)
	}
	switch r.Predicates {
	case "", "audit":
	case "deny":
		rule.DenyPredicates = true
	default:
		return nil, "predicates", fmt.Errorf("%q is not audit or deny", r.Predicates)
	}
	switch r.Copies {
	case "", "deny":
	case "allow":
		rule.AllowCopies = true
	default:
		return nil, "copies", fmt.Errorf("%q is not deny or allow", r.Copies)
	}
	return rule, "", nil
}

// checkColumnPattern accepts schema.table.column with a valid glob in each part.
func checkColumnPattern(p string) error {
	parts := strings.SplitN(p, ".", 3)
	if len(parts) != 3 {
		return fmt.Errorf("column pattern %q is not schema.table.column", p)
	}
	for _, part := range parts {
		if _, err := path.Match(part, ""); err != nil || part == "" {
			return fmt.Errorf("column pattern %q has a bad part %q", p, part)
		}
	}
	return nil
}
