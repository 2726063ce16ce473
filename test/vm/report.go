package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// printSuite prints one line per test, the output of failed tests, and a line for a suite
// that failed as a whole.
func printSuite(w io.Writer, release string, s *suiteRun) {
	for _, t := range s.Tests {
		fmt.Fprintf(w, "%-5s %-22s %-15s %s (%.2fs)\n", strings.ToUpper(t.Action), release, s.Name, t.Test, t.Elapsed)
		if t.Action == "fail" {
			for _, o := range t.Output {
				fmt.Fprintf(w, "      | %s\n", o)
			}
		}
	}
	if p := s.problem(); p != "" {
		fmt.Fprintf(w, "FAIL  %-22s %-15s %s\n", release, s.Name, p)
		for _, o := range s.Other[max(0, len(s.Other)-40):] {
			fmt.Fprintf(w, "      | %s\n", o)
		}
	}
}

func printTail(w io.Writer, path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(w, "      | (%v)\n", err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for _, l := range lines[max(0, len(lines)-n):] {
		fmt.Fprintf(w, "      | %s\n", strings.TrimRight(l, "\r"))
	}
}

// summary prints one row per kernel: where it came from, how long it took, and each suite's
// passed/total count.
func summary(w io.Writer, runs []*kernelRun, c config) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"SERIES", "KERNEL", "PACKAGE VERSION", "ACCEL", "BOOT", "TOTAL"}
	for _, s := range suites {
		header = append(header, s.Name)
	}
	fmt.Fprintln(tw, strings.Join(append(header, "RESULT"), "\t"))
	for _, k := range runs {
		row := []string{k.Kernel.Series, orDash(k.Kernel.Release), orDash(k.Kernel.Version), k.Accel, seconds(k.Boot), seconds(k.Wall)}
		for _, s := range suites {
			row = append(row, suiteCell(k, s.Name))
		}
		result := "PASS"
		if k.problem() != "" {
			result = "FAIL"
		}
		fmt.Fprintln(tw, strings.Join(append(row, result), "\t"))
	}
	tw.Flush()
}

func suiteCell(k *kernelRun, name string) string {
	for _, s := range k.Suites {
		if s.Name != name {
			continue
		}
		cell := fmt.Sprintf("%d/%d", s.count("pass"), len(s.Tests))
		if n := s.count("skip"); n > 0 {
			cell += fmt.Sprintf(" (%d skipped)", n)
		}
		if s.problem() != "" {
			cell += " FAIL"
		}
		return cell + " " + seconds(s.Wall)
	}
	return "-"
}

func seconds(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verdict prints the last line and returns the exit code. Without a mutation every suite
// must pass on every kernel. With one, every kernel must have run all its suites to the end
// and at least one test must have failed on each: a surviving mutant means the tests did
// not exercise the kernel, and a crashed VM proves nothing either way.
func verdict(w io.Writer, runs []*kernelRun, c config) int {
	if len(runs) < len(c.kernels) {
		fmt.Fprintln(w, "FAIL: interrupted")
		return 1
	}
	if c.mutation == nil {
		var bad []string
		for _, k := range runs {
			if k.problem() != "" {
				bad = append(bad, k.Kernel.Series)
			}
		}
		if len(bad) > 0 {
			fmt.Fprintf(w, "FAIL: the suites failed on kernel series %s\n", strings.Join(bad, ", "))
			return 1
		}
		fmt.Fprintf(w, "PASS: every suite passed on %d kernels\n", len(runs))
		passed, failed, skipped := 0, 0, 0
		for _, k := range runs {
			for _, s := range k.Suites {
				passed += s.count("pass")
				failed += s.count("fail")
				skipped += s.count("skip")
			}
		}
		// The plain count CI systems read, last.
		fmt.Fprintf(w, "vm: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
		return 0
	}
	code := 0
	for _, k := range runs {
		var failed []string
		for _, s := range k.Suites {
			for _, t := range s.Tests {
				if t.Action == "fail" {
					failed = append(failed, s.Name+"."+t.Test)
				}
			}
		}
		switch {
		case k.Err != nil || !k.Done || len(k.Suites) != len(suites):
			fmt.Fprintf(w, "mutation %s on %s: inconclusive, the suites did not all run: %s\n", c.mutation.Name, k.Kernel.Series, k.problem())
			code = 1
		case len(failed) == 0:
			fmt.Fprintf(w, "mutation %s on %s: SURVIVED, no test failed\n", c.mutation.Name, k.Kernel.Series)
			code = 1
		default:
			fmt.Fprintf(w, "mutation %s on %s: caught by %s\n", c.mutation.Name, k.Kernel.Series, strings.Join(failed, ", "))
		}
	}
	if code == 0 {
		fmt.Fprintf(w, "PASS: the matrix failed on every kernel with mutation %s, as it must\n", c.mutation.Name)
	} else {
		fmt.Fprintf(w, "FAIL: mutation %s was not caught on every kernel\n", c.mutation.Name)
	}
	return code
}
