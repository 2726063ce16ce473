package sqlparse

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/internal/selfexec"
)

// worker is the engine's handle on one parser process.
type worker struct {
	cmd    *exec.Cmd
	in     *os.File // its stdin
	out    *os.File // its stdout
	reader *bufio.Reader
	stderr *headBuffer
}

func startWorker(o Options) (*worker, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := selfexec.Command(WorkerRole, workerEnv+"="+workerEnvValue,
		limitEnv+"="+strconv.Itoa(o.MaxBytes)+","+strconv.FormatUint(o.MemoryLimit, 10), "GOMAXPROCS=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, &headBuffer{max: 4096}
	if os.Geteuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: o.UID, Gid: o.GID, Groups: []uint32{}}
	}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	return &worker{cmd: cmd, in: inW, out: outR, reader: bufio.NewReaderSize(outR, 64<<10), stderr: cmd.Stderr.(*headBuffer)}, nil
}

func (w *worker) pid() int { return w.cmd.Process.Pid }

// roundTrip sends one statement and reads the answer by the deadline; a cancelled ctx cuts
// the wait short.
func (w *worker) roundTrip(ctx context.Context, sql string, deadline time.Time) (byte, []byte, error) {
	if err := w.in.SetWriteDeadline(deadline); err != nil {
		return 0, nil, err
	}
	if err := w.out.SetReadDeadline(deadline); err != nil {
		return 0, nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		w.in.SetWriteDeadline(time.Now())
		w.out.SetReadDeadline(time.Now())
	})
	defer stop()
	if err := writeRequest(w.in, sql); err != nil {
		return 0, nil, err
	}
	return readFrame(w.reader, maxResponse)
}

// kill ends a worker that failed and explains why, preferring the process's own account
// (a signal, an exit status, the first line of a Go crash report) over the pipe error.
func (w *worker) kill(ioErr error) error {
	w.cmd.Process.Kill()
	w.in.Close()
	w.out.Close()
	waitErr := w.cmd.Wait()
	var exitErr *exec.ExitError
	if errors.As(waitErr, &exitErr) {
		ws, _ := exitErr.Sys().(syscall.WaitStatus)
		if !(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
			return fmt.Errorf("worker %s: %s", exitErr, w.stderr.firstLine())
		}
	}
	if errors.Is(ioErr, os.ErrDeadlineExceeded) {
		return errors.New("worker did not answer in time")
	}
	return ioErr
}

// stop ends an idle worker: closing its stdin lets it exit cleanly.
func (w *worker) stop() {
	w.in.Close()
	done := make(chan struct{})
	go func() {
		w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		w.cmd.Process.Kill()
		<-done
	}
	w.out.Close()
}

// headBuffer keeps the start of a worker's stderr: enough to log why it crashed without
// letting it fill the engine's memory.
type headBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *headBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if room := t.max - t.buf.Len(); room > 0 {
		t.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (t *headBuffer) firstLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	line, _, _ := bytes.Cut(bytes.TrimSpace(t.buf.Bytes()), []byte("\n"))
	return string(line)
}
