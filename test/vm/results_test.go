package main

import (
	"strings"
	"testing"
	"time"
)

// guestLines is what the result port carries for kernel: init's markers around each suite's
// output in the test2json framing of -test.v=test2json (each line prefixed by ^V).
func guestLines(release string, suiteOutput map[string]string, exits map[string]string, done bool) []line {
	var out []string
	out = append(out, marker+" ready kernel="+release+" uptime=1.00")
	for _, s := range suites {
		body, ok := suiteOutput[s.Name]
		if !ok {
			continue
		}
		out = append(out, marker+" begin "+s.Name)
		out = append(out, strings.Split(strings.TrimRight(body, "\n"), "\n")...)
		if exit, ok := exits[s.Name]; ok {
			out = append(out, marker+" end "+s.Name+" exit="+exit)
		}
	}
	if done {
		out = append(out, marker+" done")
	}
	var ls []line
	for i, t := range out {
		ls = append(ls, line{At: time.Duration(i) * time.Second, Text: t})
	}
	return ls
}

const (
	passing = "\x16=== RUN   TestA\n\x16--- PASS: TestA (0.25s)\n\x16=== RUN   TestB\n\x16--- SKIP: TestB (0.00s)\n\x16PASS\n"
	failing = "\x16=== RUN   TestA\n\x16=== RUN   TestA/sub\n    a_test.go:9: getpeername = 127.0.0.1:1\n\x16--- FAIL: TestA/sub (0.10s)\n\x16--- FAIL: TestA (0.20s)\n\x16FAIL\n"
	noTests = "testing: warning: no tests to run\n\x16PASS\n"
	crashed = "\x16=== RUN   TestA\n"
)

func allSuites(body string) (map[string]string, map[string]string) {
	out, exits := map[string]string{}, map[string]string{}
	for _, s := range suites {
		out[s.Name], exits[s.Name] = body, "0"
	}
	return out, exits
}

func replay(ls []line, release string) (*kernelRun, []string) {
	k := &kernelRun{Kernel: kernel{Release: release}}
	var reported []string
	for _, l := range ls {
		k.onLine(l, func(s *suiteRun) { reported = append(reported, s.Name) })
	}
	if s := k.interrupted(time.Hour); s != nil {
		reported = append(reported, s.Name+" (interrupted)")
	}
	return k, reported
}

func TestResultsOfPassingRun(t *testing.T) {
	out, exits := allSuites(passing)
	k, reported := replay(guestLines("6.1.0-1-amd64", out, exits, true), "6.1.0-1-amd64")
	if p := k.problem(); p != "" {
		t.Fatalf("problem() = %q for a run where every suite passed", p)
	}
	if len(reported) != len(suites) {
		t.Errorf("reported %v, want every suite once", reported)
	}
	s := k.Suites[0]
	if len(s.Tests) != 2 || s.Tests[0].Test != "TestA" || s.Tests[0].Action != "pass" || s.Tests[0].Elapsed != 0.25 || s.Tests[1].Action != "skip" {
		t.Errorf("tests of %s = %+v, want TestA passed in 0.25s and TestB skipped", s.Name, s.Tests)
	}
	// The markers are one second apart per line: begin at 1s, five output lines, end at 7s.
	if s.Wall != 6*time.Second {
		t.Errorf("suite wall time %v, want the 6s between its markers", s.Wall)
	}
}

// Every way a kernel's run can go wrong must make it fail, naming why.
func TestResultsOfFailingRuns(t *testing.T) {
	const rel = "5.10.0-1-amd64"
	first := suites[0].Name
	for _, tc := range []struct {
		name string
		ls   func() []line
		want string
	}{
		{"a test fails", func() []line {
			out, exits := allSuites(passing)
			out[first], exits[first] = failing, "1"
			return guestLines(rel, out, exits, true)
		}, first + ": 1 tests failed"},
		{"TestMain fails after passing tests", func() []line {
			out, exits := allSuites(passing)
			exits[first] = "1"
			return guestLines(rel, out, exits, true)
		}, first + ": exit status 1"},
		{"no test ran", func() []line {
			out, exits := allSuites(passing)
			out[first] = noTests
			return guestLines(rel, out, exits, true)
		}, first + ": no test passed"},
		{"the VM died in a suite", func() []line {
			out, exits := allSuites(passing)
			out[first] = crashed
			delete(exits, first)
			ls := guestLines(rel, out, exits, false)
			return ls[:3] // ready, begin, the first test's start
		}, "only 0 of"},
		{"init reported an error", func() []line {
			out, exits := allSuites(passing)
			ls := guestLines(rel, out, exits, true)
			return append([]line{ls[0], {Text: marker + " error insmod /lib/modules/veth.ko failed"}}, ls[1:]...)
		}, "insmod /lib/modules/veth.ko failed"},
		{"another kernel booted", func() []line {
			out, exits := allSuites(passing)
			return guestLines("6.12.0-1-amd64", out, exits, true)
		}, `runs kernel "6.12.0-1-amd64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, _ := replay(tc.ls(), rel)
			if p := k.problem(); !strings.Contains(p, tc.want) {
				t.Errorf("problem() = %q, want it to contain %q", p, tc.want)
			}
		})
	}
}

func TestFailedTestKeepsItsOutput(t *testing.T) {
	out, exits := allSuites(passing)
	out[suites[0].Name], exits[suites[0].Name] = failing, "1"
	k, _ := replay(guestLines("6.1.0-1-amd64", out, exits, true), "6.1.0-1-amd64")
	got := k.Suites[0].Tests
	if len(got) != 1 || got[0].Action != "fail" || !strings.Contains(strings.Join(got[0].Output, "\n"), "getpeername = 127.0.0.1:1") {
		t.Fatalf("tests = %+v, want TestA failed with its subtest's log", got)
	}
}

// With a mutation, success means every kernel ran all suites and some test failed on each.
func TestVerdictWithMutation(t *testing.T) {
	m, err := findMutation("no-getpeername")
	if err != nil {
		t.Fatal(err)
	}
	c := config{kernels: []string{"6.1"}, mutation: m}
	run := func(body, exit string, done bool) []*kernelRun {
		out, exits := allSuites(passing)
		out[suites[0].Name], exits[suites[0].Name] = body, exit
		k, _ := replay(guestLines("6.1.0-1-amd64", out, exits, done), "6.1.0-1-amd64")
		return []*kernelRun{k}
	}
	var w strings.Builder
	if code := verdict(&w, run(failing, "1", true), c); code != 0 {
		t.Errorf("caught mutation: exit %d, want 0\n%s", code, w.String())
	}
	if code := verdict(&w, run(passing, "0", true), c); code == 0 {
		t.Errorf("surviving mutation: exit 0, want failure")
	}
	if code := verdict(&w, run(failing, "1", false), c); code == 0 {
		t.Errorf("unfinished run with a mutation: exit 0, want failure (inconclusive)")
	}
	c.mutation = nil
	if code := verdict(&w, run(failing, "1", true), c); code == 0 {
		t.Errorf("failing run without a mutation: exit 0")
	}
	if code := verdict(&w, run(passing, "0", true), c); code != 0 {
		t.Errorf("passing run: exit %d\n%s", code, w.String())
	}
}
