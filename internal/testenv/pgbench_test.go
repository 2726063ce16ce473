package testenv

import "testing"

// Quantiles interpolate between neighbouring values; the median of an even count is the
// mean of the middle two, as benchmarks reported it before quartiles were added.
func TestQuantile(t *testing.T) {
	id := func(x float64) float64 { return x }
	for _, c := range []struct {
		v    []float64
		q    float64
		want float64
	}{
		{[]float64{4, 1, 3, 2}, 0.5, 2.5},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{5, 1, 4, 2, 3}, 0.25, 2},
		{[]float64{5, 1, 4, 2, 3}, 0.75, 4},
		{[]float64{1, 2, 3, 4}, 0.25, 1.75},
		{[]float64{2, 9}, 0, 2},
		{[]float64{2, 9}, 1, 9},
		{[]float64{7}, 0.75, 7},
	} {
		if got := Quantile(c.v, id, c.q); got != c.want {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.v, c.q, got, c.want)
		}
	}
	if got := Median([]float64{4, 1, 3, 2}, id); got != 2.5 {
		t.Errorf("Median = %v, want 2.5", got)
	}
}
