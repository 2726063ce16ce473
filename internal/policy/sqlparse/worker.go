package sqlparse

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
	"golang.org/x/sys/unix"

	"github.com/sluicehq/sluice/internal/selfexec"
)

// Environment of a worker process. The marker diverts the re-executed binary into the
// worker loop before main (or TestMain) runs, so every binary that links this package can
// serve as its own parser without any wiring in main.
const (
	// WorkerRole is a worker's argv[0], what ps shows for it.
	WorkerRole     = "sluice-sqlparse-worker"
	workerEnv      = "SLUICE_SQLPARSE_WORKER"
	workerEnvValue = "1"
	limitEnv       = "SLUICE_SQLPARSE_LIMITS" // "maxBytes,memoryBytes"
)

func init() {
	if selfexec.Role(workerEnv, workerEnvValue) {
		os.Exit(runWorker())
	}
}

// runWorker confines this process, then answers parse requests on stdin/stdout until stdin
// closes. Any failure ends the process: the engine treats that as a parser failure and
// starts a fresh worker.
func runWorker() int {
	// Parse on the main thread, whose stack the kernel grows up to RLIMIT_STACK (set by
	// confine), so how deep a parse may recurse does not depend on thread-creation defaults.
	runtime.LockOSThread()
	maxBytes, memory, err := parseLimits(os.Getenv(limitEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlparse worker:", err)
		return 2
	}
	if err := confine(memory); err != nil {
		fmt.Fprintln(os.Stderr, "sqlparse worker:", err)
		return 2
	}
	if err := serve(os.Stdin, os.Stdout, maxBytes); err != nil {
		fmt.Fprintln(os.Stderr, "sqlparse worker:", err)
		return 2
	}
	return 0
}

func parseLimits(s string) (maxBytes int, memory uint64, err error) {
	a, b, _ := strings.Cut(s, ",")
	if maxBytes, err = strconv.Atoi(a); err != nil || maxBytes <= 0 {
		return 0, 0, fmt.Errorf("bad %s %q", limitEnv, s)
	}
	if memory, err = strconv.ParseUint(b, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("bad %s %q", limitEnv, s)
	}
	return maxBytes, memory, nil
}

// parseStack is the worker's stack limit: the common default, pinned so that the same
// statements fail the same way on every host, whatever its ulimit.
const parseStack = 8 << 20

// confine applies what the process can do to itself before it reads any untrusted input:
// no privilege gain through exec, no core dumps (they would hold other sessions' SQL), a
// fixed stack, and an address-space cap so a memory-hungry parse fails inside the worker.
func confine(memory uint64) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("rlimit core: %w", err)
	}
	var stack unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &stack); err != nil {
		return fmt.Errorf("rlimit stack: %w", err)
	}
	stack.Cur = min(parseStack, stack.Max)
	if err := unix.Setrlimit(unix.RLIMIT_STACK, &stack); err != nil {
		return fmt.Errorf("rlimit stack: %w", err)
	}
	if memory > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: memory, Max: memory}); err != nil {
			return fmt.Errorf("rlimit as: %w", err)
		}
	}
	return nil
}

func serve(in io.Reader, out io.Writer, maxBytes int) error {
	r := bufio.NewReader(in)
	w := bufio.NewWriter(out)
	for {
		sql, err := readRequest(r, maxBytes)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		status, payload := parse(sql)
		if err := writeFrame(w, status, payload); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// parse runs libpg_query on one request. The fingerprint identifies the statement for
// approvals; it is computed here because it needs the C library too.
func parse(sql string) (byte, []byte) {
	tree, err := pgparser.ParseToProtobuf(sql)
	if err == nil {
		var fp uint64
		if fp, err = pgparser.FingerprintToUInt64(sql); err == nil {
			payload := make([]byte, 8, 8+len(tree))
			binary.BigEndian.PutUint64(payload, fp)
			return statusOK, append(payload, tree...)
		}
	}
	cursor := int32(0)
	var perr *pgparser.Error
	if errors.As(err, &perr) {
		cursor = int32(perr.Cursorpos)
	}
	payload := binary.BigEndian.AppendUint32(nil, uint32(cursor))
	return statusError, append(payload, err.Error()...)
}
