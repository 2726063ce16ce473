// Package kernelfeatures holds only tests: they check, on whatever kernel runs them (the
// host's, or each kernel test/vm boots), that redirect.Open either works or refuses with an
// error naming what the machine lacks. The expectation comes from the kernel's version and
// the minimums in DESIGN.md, independently of the probes inside internal/redirect, so a probe
// that wrongly passes or wrongly fails is caught.
package kernelfeatures
