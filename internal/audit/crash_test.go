package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	crashChildDirEnv = "SLUICE_AUDIT_CRASH_DIR"
	crashChildKeyEnv = "SLUICE_AUDIT_CRASH_KEY"
	crashAppenders   = 8
	crashKillAfter   = 3000 // acknowledgements seen before the SIGKILL
)

// crashChild is the writer process of TestCrashLosesNoAcknowledgedRecord: several
// goroutines append large records and print "session seq" after each acknowledged
// Append, until they are killed (or, bounded, after a minute).
func crashChild(dir, keyPath string) int {
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := Open(Options{Dir: dir, Key: key, Sync: SyncBatched, MaxSegmentBytes: 256 << 10, CheckpointEvery: 100})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	pad := strings.Repeat("x", 2000) // multi-page batches, so a kill can tear a write
	for g := range crashAppenders {
		wg.Go(func() {
			session := fmt.Sprintf("g%d", g)
			for seq := uint64(1); time.Now().Before(deadline); seq++ {
				if err := l.Append(stmt(session, seq, "SELECT '"+pad+"'")); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%s %d\n", session, seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// TestCrashLosesNoAcknowledgedRecord kills a writer process under load with SIGKILL and
// checks that every record whose Append had returned is in the log, that the log verifies
// up to the crash, and that reopening it continues the chain.
func TestCrashLosesNoAcknowledgedRecord(t *testing.T) {
	dir := t.TempDir()
	logDir := filepath.Join(dir, "log")
	keyPath := filepath.Join(dir, "audit.key")
	if err := WriteKeyPair(keyPath, keyPath+".pub"); err != nil {
		t.Fatal(err)
	}
	key, err := LoadPrivateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildDirEnv+"="+logDir, crashChildKeyEnv+"="+keyPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		acked[sc.Text()] = true
		if len(acked) == crashKillAfter {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("writer did not die by SIGKILL: %v (acknowledged %d)", err, len(acked))
	}
	t.Logf("%d appends acknowledged before and while SIGKILL landed", len(acked))

	// Before reopening: the log verifies, except for the two ends a crash can leave (and
	// that reopening repairs): a torn last line, or a rotation without its new segment.
	rep := verify(t, key, VerifyOptions{}, logDir)
	if p := rep.Problem; p != nil && !(p.Kind == Truncated && (strings.Contains(p.Detail, "incomplete") || strings.Contains(p.Detail, "crashed before creating"))) {
		t.Fatalf("crashed log: %v", p)
	}
	if rep.Closed {
		t.Error("a killed writer's log claims to be closed")
	}
	// journal: the lines the killed writer had acknowledged but not yet written, which
	// the reopened log must append.
	journal, err := readJournal(logDir)
	if err != nil {
		t.Fatal(err)
	}
	checkAcked := func(extra [][]byte) {
		t.Helper()
		present := map[string]bool{}
		files, err := resolvePaths([]string{logDir})
		if err != nil {
			t.Fatal(err)
		}
		lines := extra
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, bytes.Split(data, []byte{'\n'})...)
		}
		for _, line := range lines {
			r := new(Record)
			if decodeRecord(line, r) == nil && r.Statement != nil {
				present[fmt.Sprintf("%s %d", r.Statement.Session, r.Statement.Seq)] = true
			}
		}
		for a := range acked {
			if !present[a] {
				t.Errorf("acknowledged record %q is not in the log", a)
			}
		}
	}
	checkAcked(journal)

	// Reopen: the chain continues and says the previous writer crashed.
	l := openLog(t, logDir, key, nil)
	mustAppend(t, l, stmt("after", 1, "SELECT 'after the crash'"))
	mustClose(t, l)
	checkAcked(nil)
	rep = mustVerify(t, key, logDir)
	if !rep.Closed {
		t.Errorf("reopened and closed log is not closed: %+v", rep)
	}
	var opens []*LogOpen
	for _, r := range readRecords(t, logDir) {
		if r.LogOpen != nil {
			opens = append(opens, r.LogOpen)
		}
	}
	if len(opens) != 2 || opens[1].Previous != PreviousCrashed {
		t.Errorf("log_open records = %+v, want the second to say crashed", opens)
	}
	t.Logf("reopen appended %d records from the journal and cut %d bytes of a torn last line", opens[1].Recovered, opens[1].DroppedBytes)
}
