package analysis

import (
	"math"
	"testing"
	"time"
)

// TestLatencyPriorFits pins what the latency test's prior is designed on:
// for each of the regressions it is tuned for (the issue's: the whole
// distribution ×1.1, ×1.25, ×1.5, and 1% of requests +500 ms, on a
// log-normal stable of median 100 ms and σ 0.6 in Cloud Monitoring's
// buckets), some component gains at least 90% of the exact alternative's
// expected evidence per candidate request at a 5% share; and for a
// healthy candidate every component loses evidence on average (the
// supermartingale the test's validity rests on).
func TestLatencyPriorFits(t *testing.T) {
	t.Parallel()
	const pi = 0.05
	bounds := DefaultLatencyBounds()
	probs := func(slow, tail float64) []float64 {
		cdf := func(x time.Duration) float64 {
			base := func(x time.Duration) float64 {
				if x <= 0 {
					return 0
				}
				z := math.Log(float64(x)/(float64(100*time.Millisecond)*slow)) / 0.6
				return 0.5 * math.Erfc(-z/math.Sqrt2)
			}
			return (1-tail)*base(x) + tail*base(x-500*time.Millisecond)
		}
		p := make([]float64, len(bounds)+1)
		prev := 0.0
		for k := range p {
			c := 1.0
			if k < len(bounds) {
				c = cdf(bounds[k])
			}
			p[k], prev = c-prev, c
		}
		return p
	}
	fs := probs(1, 0)
	ref := make([]int64, len(fs))
	var n int64
	for k, p := range fs {
		ref[k] = int64(math.Round(p * 1e9))
		n += ref[k]
	}
	lt := newLatencyTest()
	table := lt.fill(nil, ref, n, len(fs))
	// gain is the expected log likelihood ratio per candidate request of
	// the ratios theta(k) when the candidate's buckets are fc.
	gain := func(fc []float64, theta func(k int) float64) float64 {
		g := 0.0
		for k := range fc {
			if fc[k] < 1e-14 && fs[k] < 1e-14 {
				continue
			}
			th := theta(k)
			g += fc[k]*math.Log(th) - (fc[k]+(1-pi)/pi*fs[k])*math.Log(pi*th+1-pi)
		}
		return g
	}
	for _, tc := range []struct {
		name       string
		slow, tail float64
	}{{"×1.1", 1.1, 0}, {"×1.25", 1.25, 0}, {"×1.5", 1.5, 0}, {"1% +500ms", 1, 0.01}, {"healthy", 1, 0}} {
		fc := probs(tc.slow, tc.tail)
		best := math.Inf(-1)
		for j := range lt.logLR {
			best = max(best, gain(fc, func(k int) float64 { return table[k][2*j+1] }))
		}
		if tc.name == "healthy" {
			if best >= 0 {
				t.Errorf("healthy: a component gains %.5f nats per request on average, want every one below 0", best)
			}
			continue
		}
		exact := gain(fc, func(k int) float64 { return fc[k] / fs[k] })
		if !(best >= 0.9*exact) {
			t.Errorf("%s: best component gains %.5f nats per candidate request, exact alternative %.5f: want at least 90%%", tc.name, best, exact)
		}
	}
}

// TestPoissonUpper: the baseline's bound solves its Chernoff equation,
// and a Poisson count of that mean is at most the observed count with
// probability at most δ (computed exactly).
func TestPoissonUpper(t *testing.T) {
	t.Parallel()
	const delta = 0.001
	for _, k := range []float64{0, 1, 5, 30, 173, 1728, 17280} {
		lam := poissonUpper(k, delta)
		if !(lam > k) {
			t.Errorf("k=%v: bound %v, want above k", k, lam)
			continue
		}
		if g := lam - k - xlogy(k, lam/k); math.Abs(g-math.Log(1/delta)) > 1e-6 {
			t.Errorf("k=%v: λ − k − k·ln(λ/k) = %v, want ln(1/δ) = %v", k, g, math.Log(1/delta))
		}
		// P(X ≤ k) for X ~ Poisson(λ), summed in logs.
		cdf := 0.0
		for i := 0.0; i <= k; i++ {
			lg, _ := math.Lgamma(i + 1)
			cdf += math.Exp(xlogy(i, lam) - lam - lg)
		}
		if cdf > delta*(1+1e-9) {
			t.Errorf("k=%v: P(Poisson(%v) ≤ k) = %v, want ≤ δ = %v", k, lam, cdf, delta)
		}
	}
	if got := poissonUpper(17280, delta) / 17280; got < 1.02 || got > 1.03 {
		t.Errorf("a day of 200 req/s at 0.1%%: bound %.4f × the observed rate, want 1.02–1.03 (as WithHistoricalTest says)", got)
	}
}
