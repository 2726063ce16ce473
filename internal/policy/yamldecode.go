package policy

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/sluicehq/sluice/internal/yamlfile"
)

// decode parses strictly and also keeps the node tree, for line numbers in later errors.
func decode(name string, data []byte) (*fileSpec, lineIndex, error) {
	var spec fileSpec
	root, err := yamlfile.Decode(name, data, &spec)
	if errors.Is(err, yamlfile.ErrEmpty) {
		return nil, lineIndex{}, fmt.Errorf("%s: empty policy document", name)
	}
	if err != nil {
		return nil, lineIndex{}, err
	}
	return &spec, lineIndex{root: root}, nil
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
