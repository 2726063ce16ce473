package sqlparse

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func newParser(t *testing.T, opts Options) *Parser {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// crashInput is the statement DESIGN.md measured: it overflows libpg_query's C stack.
var crashInput = "SELECT 1" + strings.Repeat("+1", 29999)

func TestParseValidStatement(t *testing.T) {
	p := newParser(t, Options{})
	res, err := p.Parse(context.Background(), "SELECT a FROM t WHERE b = 1; DELETE FROM u")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Tree.Stmts); n != 2 {
		t.Fatalf("got %d statements, want 2", n)
	}
	if res.Tree.Stmts[1].Stmt.GetDeleteStmt() == nil {
		t.Fatalf("second statement is %v, want DELETE", res.Tree.Stmts[1].Stmt)
	}
	other, err := p.Parse(context.Background(), "select a from t where b = 42")
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint == 0 || other.Fingerprint == res.Fingerprint {
		t.Fatalf("fingerprints %x and %x: want non-zero and different", res.Fingerprint, other.Fingerprint)
	}
	same, err := p.Parse(context.Background(), "SELECT a FROM t WHERE b = 7 /* c */;  DELETE FROM u")
	if err != nil {
		t.Fatal(err)
	}
	if same.Fingerprint != res.Fingerprint {
		t.Fatalf("constants and comments changed the fingerprint: %x vs %x", same.Fingerprint, res.Fingerprint)
	}
}

func TestSyntaxError(t *testing.T) {
	p := newParser(t, Options{})
	_, err := p.Parse(context.Background(), "SELEC 1")
	var se *SyntaxError
	if !errors.As(err, &se) || se.Cursor != 1 || !strings.Contains(se.Message, "SELEC") {
		t.Fatalf("got %v, want a syntax error at 1 naming SELEC", err)
	}
}

// The input that kills an in-process cgo parser must only cost one worker: the caller gets
// an error, this process lives on, and the next statement parses.
func TestCrashingInputIsContained(t *testing.T) {
	p := newParser(t, Options{Workers: 1})
	_, err := p.Parse(context.Background(), crashInput)
	if !errors.Is(err, ErrParserFailed) {
		t.Fatalf("got %v, want ErrParserFailed", err)
	}
	if !strings.Contains(err.Error(), "SIGSEGV") && !strings.Contains(err.Error(), "segmentation") {
		t.Fatalf("error %q does not report the worker's crash", err)
	}
	res, err := p.Parse(context.Background(), "SELECT 2")
	if err != nil || len(res.Tree.Stmts) != 1 {
		t.Fatalf("after a crash: %v, %v", res, err)
	}
}

func TestDeepTreeRefusedNotCrashed(t *testing.T) {
	p := newParser(t, Options{})
	_, err := p.Parse(context.Background(), "SELECT 1"+strings.Repeat("+1", 9999))
	if !errors.Is(err, ErrUndecodable) {
		t.Fatalf("got %v, want ErrUndecodable", err)
	}
}

func TestPrecheck(t *testing.T) {
	p := newParser(t, Options{MaxBytes: 64})
	for _, c := range []struct {
		sql  string
		want error
	}{
		{"SELECT '" + strings.Repeat("x", 64) + "'", ErrTooLarge},
		{"SELECT 1;\x00 DROP TABLE t", ErrNUL},
		{"SELECT '\xff'", ErrInvalidUTF8},
	} {
		if _, err := p.Parse(context.Background(), c.sql); !errors.Is(err, c.want) {
			t.Errorf("%q: got %v, want %v", c.sql, err, c.want)
		}
	}
}

func TestTimeoutKillsWorker(t *testing.T) {
	p := newParser(t, Options{Workers: 1})
	p.opts.Timeout = time.Nanosecond
	_, err := p.Parse(context.Background(), "SELECT 1")
	if !errors.Is(err, ErrParserFailed) || !strings.Contains(err.Error(), "in time") {
		t.Fatalf("got %v, want a timeout failure", err)
	}
}

func TestCancelledContext(t *testing.T) {
	p := newParser(t, Options{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Parse(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// Workers run as nobody when the engine is root: a parser exploit gains nothing.
func TestWorkerDropsPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to observe the drop")
	}
	p := newParser(t, Options{Workers: 1})
	w := <-p.slots
	defer func() { p.slots <- w }()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(w.pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "NoNewPrivs:") || strings.HasPrefix(line, "CapEff:") {
			t.Log(line)
		}
	}
	if !strings.Contains(string(status), "Uid:\t65534\t65534\t65534\t65534") {
		t.Fatalf("worker not running as nobody:\n%s", status)
	}
	if !strings.Contains(string(status), "NoNewPrivs:\t1") || !strings.Contains(string(status), "CapEff:\t0000000000000000") {
		t.Fatalf("worker keeps privileges:\n%s", status)
	}
}

// A crash hits only the statement that caused it, not the ones parsed beside it.
func TestConcurrentParsesSurviveACrash(t *testing.T) {
	p := newParser(t, Options{Workers: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 7 {
				if _, err := p.Parse(context.Background(), crashInput); !errors.Is(err, ErrParserFailed) {
					errs <- err
				}
				return
			}
			if _, err := p.Parse(context.Background(), "SELECT x FROM y WHERE z = 1"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
