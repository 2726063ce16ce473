package audit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperWrites reads how many write(2) calls process pid has made: the syncer writes one
// reply per fsync it ran.
func helperWrites(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("no syscw in /proc/%d/io", pid)
	return 0
}

// The fsyncs of a syncing log run in the helper process: it answers one request per fsync.
// When it dies, fsyncs go on in-process and no append fails; Close reaps a live helper.
func TestSyncerRunsFsyncsAndFailsOver(t *testing.T) {
	l := openLog(t, t.TempDir(), testKey(t), func(o *Options) { o.Sync = SyncAlways })
	if l.syncer == nil {
		t.Fatal("no syncer helper started")
	}
	pid := l.syncer.cmd.Process.Pid
	before, syncs := helperWrites(t, pid), l.Stats().Syncs
	for i := range 10 {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	if got := helperWrites(t, pid) - before; got < 10 {
		t.Errorf("the helper answered %d fsyncs for 10 synced appends", got)
	}
	if got := l.Stats().Syncs - syncs; got < 10 {
		t.Errorf("%d syncs counted for 10 synced appends", got)
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	syncs = l.Stats().Syncs
	for i := 10; i < 15; i++ {
		mustAppend(t, l, stmt("s", uint64(i+1), text(i)))
	}
	if l.syncer != nil || l.Stats().Syncs-syncs < 5 {
		t.Errorf("after the helper died: syncer %v, %d syncs for 5 appends", l.syncer, l.Stats().Syncs-syncs)
	}
	mustClose(t, l)

	l = openLog(t, t.TempDir(), testKey(t), func(o *Options) { o.Sync = SyncBatched })
	pid = l.syncer.cmd.Process.Pid
	mustClose(t, l)
	if err := syscall.Kill(pid, 0); err == nil {
		time.Sleep(100 * time.Millisecond) // reaped by Close: the pid is gone
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("syncer %d still runs after Close", pid)
		}
	}
	if l := openLog(t, t.TempDir(), testKey(t), nil); l.syncer != nil {
		t.Error("a log that never syncs started a syncer")
	}
}
