package audit

import (
	"bytes"
	stdjson "encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
)

// trickyStrings are the values where JSON encoders tend to differ: escapes, HTML
// characters (kept unescaped), invalid UTF-8 (replaced by U+FFFD), JavaScript line
// separators, control characters, NUL.
var trickyStrings = []string{
	"", "SELECT 1", `a "quoted" \ back\slash`, "<script>&amp;</script>", "tab\tnew\nline\rcr",
	"\x00\x01\x1f\x7f", "\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80", "\u2028\u2029",
	"unicode é ü 日本 🦆", "/* comment */ -- dash", string(bytes.Repeat([]byte("x"), 5000)),
}

// fillRandom sets every exported field reachable from v to a random value, so the
// comparison covers fields added later without this test knowing them.
func fillRandom(v reflect.Value, r *rand.Rand) {
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()))
		return
	case netip.AddrPort:
		if r.IntN(2) == 0 {
			v.Set(reflect.ValueOf(netip.MustParseAddrPort("[fd00::1]:5432")))
		} else {
			v.Set(reflect.ValueOf(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(256)), 1}), uint16(r.IntN(65536)))))
		}
		return
	}
	switch v.Kind() {
	case reflect.String:
		s := trickyStrings[r.IntN(len(trickyStrings))]
		if r.IntN(3) == 0 {
			b := make([]byte, r.IntN(40))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			s = string(b)
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.IntN(3) > 0 {
			v.SetInt(r.Int64N(1<<62) - 1<<61)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.IntN(3) > 0 {
			v.SetUint(r.Uint64() >> (64 - v.Type().Bits()))
		}
	case reflect.Float32, reflect.Float64:
		v.SetFloat(r.NormFloat64() * 1e6)
	case reflect.Pointer:
		if r.IntN(4) > 0 {
			v.Set(reflect.New(v.Type().Elem()))
			fillRandom(v.Elem(), r)
		}
	case reflect.Slice:
		n := r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			fillRandom(s.Index(i), r)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range r.IntN(3) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillRandom(k, r)
			fillRandom(e, r)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillRandom(v.Field(i), r)
			}
		}
	}
}

// hotOnly keeps only a statement or an outcome body of rec, filled at random, so that
// half the records take appendRecord's field-by-field path.
func hotOnly(rec Record, r *rand.Rand) Record {
	out := Record{Seq: rec.Seq, Prev: rec.Prev, Time: rec.Time, Type: TypeOutcome, Outcome: &Outcome{}}
	if r.IntN(2) == 0 {
		out.Type, out.Outcome, out.Statement = TypeStatement, nil, &Statement{}
		fillRandom(reflect.ValueOf(out.Statement).Elem(), r)
	} else {
		fillRandom(reflect.ValueOf(out.Outcome).Elem(), r)
	}
	return out
}

// The writer encodes records with segmentio/encoding for speed, and statements and
// outcomes field by field; every reader (verify,
// show, shippers' parsers) expects what encoding/json writes. Random records of every type,
// full of the strings where encoders differ, must encode to identical bytes.
func TestEncoderMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var std bytes.Buffer
	se := stdjson.NewEncoder(&std)
	se.SetEscapeHTML(false)
	for i := range 5000 {
		var rec Record
		fillRandom(reflect.ValueOf(&rec).Elem(), r)
		if i%2 == 0 {
			rec = hotOnly(rec, r)
		}
		std.Reset()
		serr := se.Encode(&rec)
		w := &writer{}
		ferr := w.add(&rec, rec.Time)
		if (ferr == nil) != (serr == nil) {
			t.Fatalf("record %d: errors differ: %v vs encoding/json %v", i, ferr, serr)
		}
		// add sets the chain fields; encoding/json gets the same record afterwards.
		std.Reset()
		se.Encode(&rec)
		if f, s := w.buf, std.Bytes(); !bytes.Equal(f, s) {
			at := 0
			for at < min(len(f), len(s)) && f[at] == s[at] {
				at++
			}
			t.Fatalf("record %d encodes differently from byte %d:\n%.200q\nencoding/json:\n%.200q", i, at, f[max(0, at-40):], s[max(0, at-40):])
		}
	}
}

// BenchmarkEncode compares appendRecord with the reflective encoder on the two records a
// pgbench -S statement writes, the reason statements and outcomes have their own encoder.
//
//	go test -run '^$' -bench Encode ./internal/audit/
func BenchmarkEncode(b *testing.B) {
	now := time.Now().UTC()
	recs := []*Record{
		{Seq: 17, Prev: genesis, Time: now, Type: TypeStatement, Statement: &Statement{
			Session: "6b080b82-3", Seq: 1, Protocol: ProtocolExtended, Text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
			Fingerprint: "348bee4e67e86ca6", Class: ClassRead, Command: "SELECT",
			Objects:    []Object{{Type: "relation", Name: "pgbench_accounts"}},
			Parameters: []Parameter{{Value: "36592"}}, Decision: DecisionAllow, Rule: "default",
		}},
		{Seq: 18, Prev: genesis, Time: now, Type: TypeOutcome, Outcome: &Outcome{
			Session: "6b080b82-3", Seq: 1, Duration: 483188, Tag: "SELECT 1", Rows: 1, Bytes: 51,
		}},
	}
	encoders := map[string]func([]byte, *Record) ([]byte, error){
		"appendRecord": appendRecord,
		"reflective":   func(b []byte, r *Record) ([]byte, error) { return json.Append(b, r, json.SortMapKeys) },
	}
	for name, enc := range encoders {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			for b.Loop() {
				buf = buf[:0]
				for _, r := range recs {
					buf, _ = enc(buf, r)
				}
			}
		})
	}
}
