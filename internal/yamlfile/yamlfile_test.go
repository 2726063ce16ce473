package yamlfile

import (
	"strings"
	"testing"
)

func TestDecodeNamesFileLineAndKey(t *testing.T) {
	var v struct {
		A struct {
			B int `yaml:"b"`
		} `yaml:"a"`
		L []string `yaml:"l"`
	}
	root, err := Decode("f.yaml", []byte("a:\n  b: 1\nl: [x, y]\n"), &v)
	if err != nil || v.A.B != 1 {
		t.Fatalf("valid document: %v %+v", err, v)
	}
	if got := Line(root, "l", 1); got != 3 {
		t.Errorf("Line(l, 1) = %d, want 3", got)
	}
	if got := Line(root, "a", "missing"); got != 2 {
		t.Errorf("Line of a missing key = %d, want the deepest found (2)", got)
	}
	for doc, want := range map[string]string{
		"a:\n  bb: 1\n": `f.yaml:2: unknown key "bb"`,
		"a:\n  b: x\n":  `f.yaml:2: cannot unmarshal`,
		"":              "f.yaml: empty document",
		"a: [\n":        "f.yaml:",
	} {
		_, err := Decode("f.yaml", []byte(doc), &v)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
}
