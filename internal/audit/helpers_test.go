package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// testKey returns a fresh signing key.
func testKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// openLog opens a log in dir with key and small defaults adjusted by tweak.
func openLog(t testing.TB, dir string, key ed25519.PrivateKey, tweak func(*Options)) *Log {
	t.Helper()
	o := Options{Dir: dir, Key: key, Sync: SyncNone}
	if tweak != nil {
		tweak(&o)
	}
	l, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stmt is a minimal valid statement event.
func stmt(session string, seq uint64, text string) *Statement {
	return &Statement{Session: session, Seq: seq, Protocol: ProtocolSimple, Text: text, Decision: DecisionAllow}
}

func mustAppend(t testing.TB, l *Log, ev Event) {
	t.Helper()
	if err := l.Append(ev); err != nil {
		t.Fatal(err)
	}
}

// written writes what the log buffers (its records since the last write, which are in
// the journal), as it would by itself within SyncWindow, for tests that read a live log.
func written(l *Log) { l.writeDeferred() }

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// verify runs Verify with key's public half and fails on read errors (not on problems).
func verify(t testing.TB, key ed25519.PrivateKey, opts VerifyOptions, paths ...string) *Report {
	t.Helper()
	opts.PublicKeys = append(opts.PublicKeys, pub(key))
	rep, err := Verify(paths, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// mustVerify fails the test unless the log verifies without a problem.
func mustVerify(t testing.TB, key ed25519.PrivateKey, paths ...string) *Report {
	t.Helper()
	rep := verify(t, key, VerifyOptions{}, paths...)
	if rep.Problem != nil {
		t.Fatalf("verify: %v", rep.Problem)
	}
	return rep
}

// readRecords returns every record of the log in dir, in order.
func readRecords(t testing.TB, dir string) []*Record {
	t.Helper()
	files, err := resolvePaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'}) {
			rec := new(Record)
			if err := decodeRecord(line, rec); err != nil {
				t.Fatalf("%s:%d: %v", f, i+1, err)
			}
			recs = append(recs, rec)
		}
	}
	return recs
}

// segmentPath is the path of segment i in dir.
func segmentPath(dir string, i uint64) string { return filepath.Join(dir, segmentName(i)) }

// statementTexts returns the texts of the statement records of recs, in order.
func statementTexts(recs []*Record) []string {
	var out []string
	for _, r := range recs {
		if r.Statement != nil {
			out = append(out, r.Statement.Text)
		}
	}
	return out
}

func text(i int) string { return fmt.Sprintf("SELECT %d", i) }
