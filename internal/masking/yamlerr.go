package masking

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	lineNumbered = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// yamlError rewrites the YAML library's messages as file:line: ..., naming unknown keys as
// keys rather than as fields of Go types.
func yamlError(name string, err error) error {
	msgs := []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
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

// line finds the line of the node at a path of mapping keys (string) and sequence indexes
// (int) from the document root; it returns the deepest line found, or 0.
func line(root *yaml.Node, keys ...any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for _, k := range keys {
		var next *yaml.Node
		switch k := k.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						best = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return best
		}
		n, best = next, next.Line
	}
	return best
}
