package masking

import (
	"testing"

	"github.com/sluicehq/sluice/internal/masking/lineage"
)

func TestTextCopyFields(t *testing.T) {
	o := &lineage.CopyOut{Format: "text", Delimiter: '\t', Null: `\N`}
	row := []byte("1\ta\\tb\\\\c\\nd\t\\N\t\\x41\\101")
	fields := splitText(row, '\t')
	if len(fields) != 4 {
		t.Fatalf("%d fields: %q", len(fields), fields)
	}
	for i, want := range []string{"1", "a\tb\\c\nd", "", "AA"} {
		v, null := textValue(fields[i], o)
		if i == 2 {
			if !null {
				t.Errorf("field 2 is not NULL")
			}
			continue
		}
		if null || string(v) != want {
			t.Errorf("field %d: %q, want %q", i, v, want)
		}
	}
	if got := string(appendText(nil, []byte("a\tb\\c\nd"), '\t')); got != `a\tb\\c\nd` {
		t.Errorf("escaped: %q", got)
	}
}

func TestCSVCopyFields(t *testing.T) {
	o := &lineage.CopyOut{Format: "csv", Delimiter: ',', Quote: '"', Escape: '"', Null: ""}
	row := []byte(`1,"a,""b""",,"",x`)
	fields := splitCSV(row, o)
	if len(fields) != 5 {
		t.Fatalf("%d fields: %q", len(fields), fields)
	}
	if v, null := csvValue(fields[1], o); null || string(v) != `a,"b"` {
		t.Errorf("quoted: %q %v", v, null)
	}
	if _, null := csvValue(fields[2], o); !null {
		t.Error("unquoted empty is not NULL")
	}
	if v, null := csvValue(fields[3], o); null || len(v) != 0 {
		t.Error("quoted empty is not an empty string")
	}
	if got := string(appendCSV(nil, []byte(`a,"b"`), o)); got != `"a,""b"""` {
		t.Errorf("quoted: %s", got)
	}
	bs := &lineage.CopyOut{Format: "csv", Delimiter: ';', Quote: '\'', Escape: '\\', Null: "NULL"}
	f2 := splitCSV([]byte(`'it\'s;x';NULL`), bs)
	if v, _ := csvValue(f2[0], bs); string(v) != `it's;x` {
		t.Errorf("escape char: %q", v)
	}
	if _, null := csvValue(f2[1], bs); !null {
		t.Error("NULL marker")
	}
}
