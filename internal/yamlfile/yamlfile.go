// Package yamlfile decodes sluice's configuration files (agent config, guardrail rules,
// masking rules) strictly and reports problems as FILE:LINE: messages: a misspelt key in a
// security setting must stop the load, and the operator must be able to jump to it.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrEmpty is returned for a document with no content.
var ErrEmpty = errors.New("empty document")

// Decode decodes data into v rejecting unknown keys, and also returns the document's node
// tree so that later (semantic) errors can name lines with Line. Node.Decode does not
// inherit strictness, hence two passes.
func Decode(name string, data []byte, v any) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, ErrEmpty)
	} else if err != nil {
		return nil, Error(name, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Error(name, err)
	}
	return &root, nil
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type .+$`)
	lineNumbered = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// Error rewrites the YAML library's messages (and "line N: ..." errors of custom
// unmarshalers) as "name:N: ...", naming unknown keys as keys rather than as fields of Go
// types.
func Error(name string, err error) error {
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

// LineError is what a custom unmarshaler returns for a bad value, so Error can name its line.
func LineError(n *yaml.Node, field string, err error) error {
	return fmt.Errorf("line %d: %s: %w", n.Line, field, err)
}

// Line finds the line of the node at a path of mapping keys (string) and sequence indexes
// (int) from the document root; for a path that does not exist it returns the deepest line
// found, so an error still points close to its cause.
func Line(root *yaml.Node, path ...any) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	best := n.Line
	for _, k := range path {
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
