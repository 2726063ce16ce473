package guard

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestParametersCappedWithSizeAndHash(t *testing.T) {
	long := strings.Repeat("é", 10) // 20 bytes: the cut at 9 splits a rune
	bin := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	got := parameters(&pgproto3.Bind{
		ParameterFormatCodes: []int16{0, 1, 0, 0},
		Parameters:           [][]byte{[]byte(long), bin, nil, []byte("short")},
	}, 9, false)
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	if p := got[0]; p.Value != long[:9] || p.Size != 20 || p.SHA256 != sum([]byte(long)) || p.Binary {
		t.Errorf("long text: %+v", p)
	}
	if p := got[1]; p.Value != base64.StdEncoding.EncodeToString(bin[:9]) || p.Size != 12 || p.SHA256 != sum(bin) || !p.Binary {
		t.Errorf("long binary: %+v", p)
	}
	if p := got[2]; !p.Null || p.Value != "" {
		t.Errorf("null: %+v", p)
	}
	if p := got[3]; p.Value != "short" || p.Size != 0 || p.SHA256 != "" {
		t.Errorf("short value: %+v", p)
	}
}

func TestParametersRedacted(t *testing.T) {
	got := parameters(&pgproto3.Bind{
		ParameterFormatCodes: []int16{1},
		Parameters:           [][]byte{[]byte("078-05-1120"), nil},
	}, 4096, true)
	if p := got[0]; !p.Redacted || p.Value != "" || p.SHA256 != "" || !p.Binary {
		t.Errorf("redacted value: %+v", p)
	}
	if p := got[1]; !p.Null || p.Redacted {
		t.Errorf("null: %+v", p)
	}
}
