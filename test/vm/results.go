package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// testResult is one top-level test of one suite on one kernel.
type testResult struct {
	Test    string
	Action  string // pass, fail or skip
	Elapsed float64
	Output  []string // the test's output (with its subtests'), kept for failures
}

// suiteRun is one test binary's run in the guest.
type suiteRun struct {
	Name  string
	Ended bool // the guest reported the binary's exit
	Exit  int
	Wall  time.Duration
	Tests []testResult
	Other []string // output outside any test: TestMain's checks, panics, the final verdict
	Err   error    // the output could not be interpreted

	began time.Duration
	raw   bytes.Buffer
}

func (s *suiteRun) count(action string) int {
	n := 0
	for _, t := range s.Tests {
		if t.Action == action {
			n++
		}
	}
	return n
}

// problem says why the suite failed, or "" when it passed. A suite that ran no test at all
// fails: the matrix must prove the tests ran, not just that nothing complained.
func (s *suiteRun) problem() string {
	switch {
	case s.Err != nil:
		return s.Err.Error()
	case !s.Ended:
		return "did not finish (VM crashed or timed out)"
	case s.count("fail") > 0:
		return fmt.Sprintf("%d tests failed", s.count("fail"))
	case s.Exit != 0:
		return fmt.Sprintf("exit status %d", s.Exit)
	case s.count("pass") == 0:
		return "no test passed"
	}
	return ""
}

// kernelRun is the whole run on one kernel.
type kernelRun struct {
	Kernel  kernel
	Accel   string
	Err     error         // fetching, booting or a VM that never finished
	Guest   string        // the release the guest's uname reported
	Boot    time.Duration // qemu start to init's ready line
	Wall    time.Duration // qemu start to power-off
	Done    bool          // init reported every suite finished
	Errors  []string      // what the guest's init reported going wrong outside the suites
	Suites  []*suiteRun
	current *suiteRun
}

// problem says why the kernel failed, or "" when every suite passed on it.
func (k *kernelRun) problem() string {
	if k.Err != nil {
		return k.Err.Error()
	}
	if len(k.Errors) > 0 {
		return strings.Join(k.Errors, "; ")
	}
	if k.Guest != k.Kernel.Release {
		return fmt.Sprintf("the guest runs kernel %q, not %s", k.Guest, k.Kernel.Release)
	}
	if len(k.Suites) != len(suites) || !k.Done {
		return fmt.Sprintf("only %d of %d suites ran to the end", k.finished(), len(suites))
	}
	var bad []string
	for _, s := range k.Suites {
		if p := s.problem(); p != "" {
			bad = append(bad, s.Name+": "+p)
		}
	}
	return strings.Join(bad, "; ")
}

func (k *kernelRun) finished() int {
	n := 0
	for _, s := range k.Suites {
		if s.Ended {
			n++
		}
	}
	return n
}

// onLine follows the guest's result port: init's marker lines delimit the suites, whose
// output (in the test binaries' test2json framing) is collected between them. When a suite
// ends, its results are decoded and reported.
func (k *kernelRun) onLine(l line, report func(*suiteRun)) {
	rest, ok := strings.CutPrefix(l.Text, marker+" ")
	if !ok {
		if k.current != nil {
			k.current.raw.WriteString(l.Text + "\n")
		}
		return
	}
	word, args, _ := strings.Cut(rest, " ")
	switch word {
	case "ready":
		k.Boot = l.At
		for _, f := range strings.Fields(args) {
			if v, ok := strings.CutPrefix(f, "kernel="); ok {
				k.Guest = v
			}
		}
	case "begin":
		k.current = &suiteRun{Name: args, began: l.At}
		k.Suites = append(k.Suites, k.current)
	case "end":
		name, exit, _ := strings.Cut(args, " exit=")
		s := k.current
		if s == nil || s.Name != name {
			return
		}
		s.Ended = true
		s.Exit, _ = strconv.Atoi(exit)
		s.Wall = l.At - s.began
		s.Tests, s.Other, s.Err = decode(s.Name, &s.raw)
		k.current = nil
		report(s)
	case "error":
		k.Errors = append(k.Errors, args)
	case "done":
		k.Done = true
	}
}

// interrupted decodes what an unfinished suite printed before the VM died.
func (k *kernelRun) interrupted(at time.Duration) *suiteRun {
	s := k.current
	if s == nil {
		return nil
	}
	s.Wall = at - s.began
	s.Tests, s.Other, s.Err = decode(s.Name, &s.raw)
	k.current = nil
	return s
}

// event is the part of a test2json event the report uses.
type event struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// decode turns a test binary's -test.v=test2json output into its top-level tests' results
// and the output outside any test, using the go command's own converter rather than parsing
// test output by hand.
func decode(pkg string, raw io.Reader) (results []testResult, other []string, err error) {
	cmd := exec.Command("go", "tool", "test2json", "-t", "-p", pkg)
	cmd.Stdin = raw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go tool test2json: %w: %s", err, stderr.String())
	}
	output := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var e event
		if err := dec.Decode(&e); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, fmt.Errorf("go tool test2json output: %w", err)
		}
		top, sub, _ := strings.Cut(e.Test, "/")
		switch {
		case e.Test == "" && e.Action == "output":
			other = append(other, strings.TrimRight(e.Output, "\n"))
		case e.Test == "":
		case e.Action == "output":
			output[top] = append(output[top], strings.TrimRight(e.Output, "\n"))
		case sub == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			results = append(results, testResult{Test: e.Test, Action: e.Action, Elapsed: e.Elapsed, Output: output[top]})
		}
	}
	return results, other, nil
}
