package masking

import (
	"bytes"
	"encoding/json"
)

// contentMasker masks what the detectors find in a value. Strings are masked in place
// (same length, still valid UTF-8). JSON is parsed and its strings and numbers masked, so
// it stays JSON. For any other type a masked fragment could not be written back validly,
// so a value with a finding becomes NULL. Types that cannot hold text are passed.
func (f *factory) contentMasker(c column) masker {
	if opaqueToDetectors[c.oid] {
		return nil
	}
	switch c.cls {
	case classString:
		return func(dst, v []byte) ([]byte, bool) {
			out, _ := f.detector.Mask(v)
			return append(dst, out...), false
		}
	case classJSON, classJSONB:
		prefix := c.binary && c.cls == classJSONB
		return func(dst, v []byte) ([]byte, bool) {
			body := v
			if prefix {
				if len(v) == 0 || v[0] != 1 {
					return dst, true
				}
				body = v[1:]
			}
			if len(f.detector.Find(body)) == 0 {
				return append(dst, v...), false
			}
			masked, ok := f.maskJSON(body)
			if !ok {
				return dst, true
			}
			if prefix {
				dst = append(dst, 1)
			}
			return append(dst, masked...), false
		}
	}
	return func(dst, v []byte) ([]byte, bool) {
		if len(f.detector.Find(v)) > 0 {
			return dst, true
		}
		return append(dst, v...), false
	}
}

// maskJSON masks findings in a JSON document's strings (and object keys) and replaces
// numbers with findings (a card number stored as a number) by 0.
func (f *factory) maskJSON(doc []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	var walk func(any) any
	walk = func(x any) any {
		switch t := x.(type) {
		case string:
			s, _ := f.detector.MaskString(t)
			return s
		case json.Number:
			if len(f.detector.Find([]byte(t))) > 0 {
				return json.Number("0")
			}
			return t
		case []any:
			for i := range t {
				t[i] = walk(t[i])
			}
			return t
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, val := range t {
				mk, _ := f.detector.MaskString(k)
				out[mk] = walk(val)
			}
			return out
		}
		return x
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(walk(v)); err != nil {
		return nil, false
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), true
}
