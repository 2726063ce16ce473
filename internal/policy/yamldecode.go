package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decode parses strictly and also keeps the node tree, for line numbers in later errors.
func decode(name string, data []byte) (*fileSpec, lineIndex, error) {
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); errors.Is(err, io.EOF) {
		return nil, lineIndex{}, fmt.Errorf("%s: empty policy document", name)
	} else if err != nil {
		return nil, lineIndex{}, yamlError(name, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, lineIndex{}, yamlError(name, err)
	}
	return &spec, lineIndex{root: &root}, nil
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	lineNumbered = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// yamlError rewrites the YAML library's messages as file:line: ..., naming unknown keys as
// keys rather than as fields of internal Go types.
func yamlError(name string, err error) error {
	var te *yaml.TypeError
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if g := unknownField.FindStringSubmatch(m); g != nil {
			out = append(out, fmt.Sprintf("%s:%s: unknown key %q", name, g[1], g[2]))
		} else if g := lineNumbered.FindStringSubmatch(m); g != nil {
			out = append(out, fmt.Sprintf("%s:%s: %s", name, g[1], g[2]))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", name, m))
		}
	}
	return errors.New(strings.Join(out, "; "))
}

// lineIndex finds lines of a decoded document for semantic errors.
type lineIndex struct{ root *yaml.Node }

func (l lineIndex) top() *yaml.Node {
	if l.root == nil || len(l.root.Content) == 0 || l.root.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	return l.root.Content[0]
}

func (l lineIndex) value(key string) *yaml.Node {
	m := l.top()
	if m == nil {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func (l lineIndex) key(key string) int {
	if v := l.value(key); v != nil {
		return v.Line
	}
	return 0
}

func (l lineIndex) rule(i int) int {
	if v := l.value("rules"); v != nil && i < len(v.Content) {
		return v.Content[i].Line
	}
	return 0
}
