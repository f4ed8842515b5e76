package analysis_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

var bounds = analysis.DefaultLatencyBounds()

// latencies returns the histogram of n log-normal latencies of median
// 100 ms × slow and log-spread 0.6, a share tail of them add longer.
func latencies(rng *rand.Rand, n int64, slow, tail float64, add time.Duration) analysis.Histogram {
	h := analysis.Histogram{Bounds: bounds, Counts: make([]int64, len(bounds)+1)}
	for range n {
		d := time.Duration(float64(100*time.Millisecond) * slow * math.Exp(0.6*rng.NormFloat64()))
		if rng.Float64() < tail {
			d += add
		}
		i := 0
		for i < len(bounds) && d >= bounds[i] {
			i++
		}
		h.Counts[i]++
	}
	return h
}

func TestHistogramQuantile(t *testing.T) {
	t.Parallel()
	h := analysis.Histogram{Bounds: []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}, Counts: []int64{0, 50, 50}}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 20 * time.Millisecond}, {0.25, 15 * time.Millisecond}, {0.75, 30 * time.Millisecond}, {0.99, 39600 * time.Microsecond}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := (analysis.Histogram{}).Quantile(0.5); got != -1 {
		t.Errorf("empty Quantile = %v, want -1", got)
	}
	over := analysis.Histogram{Bounds: h.Bounds, Counts: []int64{0, 0, 0, 5}}
	if got := over.Quantile(0.5); got != 40*time.Millisecond {
		t.Errorf("overflow Quantile = %v, want the last bound", got)
	}
	if got := h.Total(); got != 100 {
		t.Errorf("Total = %d", got)
	}
}

func TestLatencyScriptAndSubtract(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(10 * time.Minute))
	primary := analysis.NewLatencyScript(clk, 3*time.Minute)
	probe := analysis.NewLatencyScript(clk, 0)
	b := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	for m := range 10 {
		at := t0.Add(time.Duration(m) * time.Minute)
		primary.RecordLatencies(cand, at, analysis.Histogram{Bounds: b, Counts: []int64{5, 3, 2}})
		probe.RecordLatencies(cand, at, analysis.Histogram{Bounds: b, Counts: []int64{1, 0, 1}})
	}
	// Late data lands in order.
	primary.RecordLatencies(cand, t0.Add(30*time.Second), analysis.Histogram{Bounds: b, Counts: []int64{0, 1}})
	got, err := analysis.Subtract(primary, probe).(analysis.LatencyMetrics).Latencies(context.Background(), analysis.Query{Revisions: []string{cand, stable}, Start: t0, End: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Latencies{Revisions: map[string]analysis.Histogram{
		cand:   {Bounds: b, Counts: []int64{7 * 4, 7*3 + 1, 7 * 1}},
		stable: {},
	}, Through: t0.Add(7 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Latencies mismatch (-want +got):\n%s", diff)
	}
	if _, ok := analysis.Subtract(analysis.NewScript(clk, 0), probe).(analysis.LatencyMetrics); ok {
		t.Error("Subtract of a source without latencies has latencies")
	}
}

// latencyRollout runs a step at 5% of 200 req/s with a look every second
// and returns when the gate failed (−1 if it did not within limit) and the
// last verdict.
func latencyRollout(t *testing.T, seed uint64, slow, tail float64, limit int, opts ...analysis.Option) (int, traffic.Verdict) {
	t.Helper()
	clk := fake.NewClock(t0)
	s := analysis.NewLatencyScript(clk, 0)
	g, err := analysis.NewSequential(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	var v traffic.Verdict
	for sec := range limit {
		at := t0.Add(time.Duration(sec) * time.Second)
		nc, ns := poisson(rng, 10), poisson(rng, 190)
		s.Record(cand, at, analysis.Count{Requests: nc})
		s.Record(stable, at, analysis.Count{Requests: ns})
		s.RecordLatencies(cand, at, latencies(rng, nc, slow, tail, 500*time.Millisecond))
		s.RecordLatencies(stable, at, latencies(rng, ns, 1, 0, 0))
		clk.Advance(time.Second)
		v, err = g.Check(context.Background(), check(1, 5, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Fail {
			return sec + 1, v
		}
	}
	return -1, v
}

// TestLatencyRegressions: a slower candidate, or one with a heavier tail,
// fails the step within the time the information allows, and the verdict
// carries the numbers behind it; a healthy one does not fail.
func TestLatencyRegressions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		slow, tail  float64
		within      int // seconds; 0: must not fail within 600
		wantSlowerN string
	}{
		{"×1.5", 1.5, 0, 30, "p50_ratio"},
		{"×1.25", 1.25, 0, 60, "p50_ratio"},
		{"tail 3% +500ms", 1, 0.03, 120, "p99_ratio"},
		{"healthy", 1, 0, 0, ""},
	} {
		at, v := latencyRollout(t, 1, tc.slow, tc.tail, 600)
		switch {
		case tc.within == 0 && at >= 0:
			t.Errorf("%s: failed at %ds: %s", tc.name, at, v.Reason)
		case tc.within > 0 && (at < 0 || at > tc.within):
			t.Errorf("%s: failed at %ds (%s), want within %ds", tc.name, at, v.Reason, tc.within)
		case tc.within > 0:
			if r := v.Numbers[tc.wantSlowerN]; !(r > 1) {
				t.Errorf("%s: %s = %v, want above 1 (numbers %v)", tc.name, tc.wantSlowerN, r, v.Numbers)
			}
			if v.Numbers["latency_e_value"] <= 1 || v.Numbers["stable_p50_ms"] <= 0 {
				t.Errorf("%s: numbers %v lack the latency test's", tc.name, v.Numbers)
			}
		}
	}
}

// TestLatencyFalseRollbacks: healthy candidates looked at every second
// for 10 minutes are rolled back within the budget the latency test gets.
func TestLatencyFalseRollbacks(t *testing.T) {
	t.Parallel()
	const runs = 60
	fails := 0
	for seed := range uint64(runs) {
		// The whole of a generous alpha for latency: the bound must hold
		// for the latency test alone.
		if at, _ := latencyRollout(t, 100+seed, 1, 0, 600, analysis.WithAlpha(0.2), analysis.WithLatencyTest(0.5), analysis.WithCrashTest(0.01, 0.01, 5)); at >= 0 {
			fails++
		}
	}
	if rate := float64(fails) / runs; rate > 0.1 {
		t.Errorf("false rollbacks %d/%d, want ≤ the latency test's α = 0.1", fails, runs)
	}
}

// TestLatencyTestOff: without latencies, or with WithLatencyTest(0), the
// gate has no latency numbers and the error tests keep their thresholds.
func TestLatencyTestOff(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	for _, g := range []func() (*analysis.Sequential, error){
		func() (*analysis.Sequential, error) { return analysis.NewSequential(analysis.NewScript(clk, 0)) },
		func() (*analysis.Sequential, error) {
			return analysis.NewSequential(analysis.NewLatencyScript(clk, 0), analysis.WithLatencyTest(0))
		},
	} {
		s, err := g()
		if err != nil {
			t.Fatal(err)
		}
		rel, crash := s.Thresholds()
		if math.Abs(rel-1/0.03) > 1e-9 || math.Abs(crash-1/0.03) > 1e-9 || !math.IsInf(s.LatencyThreshold(), 1) {
			t.Errorf("thresholds %v, %v, %v; want 33.3, 33.3, +Inf", rel, crash, s.LatencyThreshold())
		}
	}
	s, err := analysis.NewSequential(analysis.NewLatencyScript(clk, 0))
	if err != nil {
		t.Fatal(err)
	}
	rel, crash := s.Thresholds()
	if math.Abs(rel-1/0.026) > 1e-9 || math.Abs(crash-1/0.024) > 1e-9 || math.Abs(s.LatencyThreshold()-1/0.01) > 1e-9 {
		t.Errorf("with latencies: thresholds %v, %v, %v; want 38.5, 41.7, 100", rel, crash, s.LatencyThreshold())
	}
}

// TestThresholdMaxLatency: the latency check fails a window whose
// quantile is above the maximum, and needs latency metrics.
func TestThresholdMaxLatency(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(2 * time.Minute))
	s := analysis.NewLatencyScript(clk, 0)
	rng := rand.New(rand.NewPCG(5, 5))
	for sec := range 120 {
		at := t0.Add(time.Duration(sec) * time.Second)
		s.Record(cand, at, analysis.Count{Requests: 10})
		s.RecordLatencies(cand, at, latencies(rng, 10, 2, 0, 0)) // p99 ≈ 800 ms
	}
	g, err := analysis.NewThreshold(s, analysis.FlaggerRequestDuration()...)
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if v.Numbers["failed_checks"] != 1 || v.Numbers["latency_ms"] < 500 {
		t.Errorf("verdict %s %q %v, want one failed check on p99 > 500 ms", v.Outcome, v.Reason, v.Numbers)
	}
	if _, err := analysis.NewThreshold(analysis.NewScript(clk, 0), analysis.FlaggerRequestDuration()...); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("NewThreshold(no latencies, WithMaxLatency) = %v, want ErrInvalid", err)
	}
}

// BenchmarkLatencyCheck measures one Check of a Sequential gate running
// its latency test (and the error tests) over a latency script at 200
// req/s, 5% to the candidate, each look adding a second of data (recorded
// beforehand, so the loop times the look alone, the script's reads
// included).
func BenchmarkLatencyCheck(b *testing.B) {
	const n = 4096
	clk := fake.NewClock(t0)
	s := analysis.NewLatencyScript(clk, 0)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Second)
		s.Record(cand, at, analysis.Count{Requests: 10})
		s.Record(stable, at, analysis.Count{Requests: 190})
		s.RecordLatencies(cand, at, latencies(rng, 10, 1, 0, 0))
		s.RecordLatencies(stable, at, latencies(rng, 190, 1, 0, 0))
	}
	ctx := context.Background()
	var g *analysis.Sequential
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 {
			// A fresh rollout every n looks.
			b.StopTimer()
			var err error
			if g, err = analysis.NewSequential(s, analysis.WithClock(clk)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		now := t0.Add(time.Duration(i%n+1) * time.Second)
		clk.Set(now)
		if _, err := g.Check(ctx, traffic.Check{Stable: stable, Candidate: cand, Step: 1, Percent: 5, Since: t0, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
