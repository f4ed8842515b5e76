package analysis_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	cand   = "svc-v2"
	stable = "svc-v1"
)

// fill records per-second traffic from start for secs seconds: rps requests
// a second split by share, errors every 1/rate requests on average (exact
// deterministic spreading, so tests do not depend on a random stream).
func fill(s *analysis.Script, start time.Time, secs int, rps, share, candRate, stableRate float64) {
	var cr, ce, sr, se float64
	for i := range secs {
		at := start.Add(time.Duration(i) * time.Second)
		nc := rps * share
		ns := rps * (1 - share)
		c := analysis.Count{Requests: int64(math.Floor(cr + nc)), Errors: int64(math.Floor(ce + nc*candRate))}
		st := analysis.Count{Requests: int64(math.Floor(sr + ns)), Errors: int64(math.Floor(se + ns*stableRate))}
		c.Requests -= int64(math.Floor(cr))
		c.Errors -= int64(math.Floor(ce))
		st.Requests -= int64(math.Floor(sr))
		st.Errors -= int64(math.Floor(se))
		cr, ce, sr, se = cr+nc, ce+nc*candRate, sr+ns, se+ns*stableRate
		c.Errors = min(c.Errors, c.Requests)
		st.Errors = min(st.Errors, st.Requests)
		s.Record(cand, at, c)
		s.Record(stable, at, st)
	}
}

func TestScriptCounts(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(10 * time.Second))
	s := analysis.NewScript(clk, 3*time.Second)
	s.Record(cand, t0.Add(5*time.Second), analysis.Count{Requests: 5, Errors: 1})
	s.Record(cand, t0, analysis.Count{Requests: 10, Errors: 2}) // out of order
	s.Record(stable, t0.Add(6*time.Second), analysis.Count{Requests: 7})
	s.Record(cand, t0.Add(8*time.Second), analysis.Count{Requests: 100, Errors: 100}) // not visible yet
	s.Record("other", t0, analysis.Count{Requests: 1})

	tests := []struct {
		name string
		q    analysis.Query
		want analysis.Counts
	}{
		{"all visible", analysis.Query{Revisions: []string{cand, stable}, Start: t0, End: t0.Add(time.Hour)},
			analysis.Counts{Revisions: map[string]analysis.Count{cand: {15, 3}, stable: {7, 0}}, Through: t0.Add(7 * time.Second)}},
		{"window", analysis.Query{Revisions: []string{cand}, Start: t0.Add(time.Second), End: t0.Add(6 * time.Second)},
			analysis.Counts{Revisions: map[string]analysis.Count{cand: {5, 1}}, Through: t0.Add(6 * time.Second)}},
		{"future start", analysis.Query{Revisions: []string{stable}, Start: t0.Add(9 * time.Second), End: t0.Add(time.Hour)},
			analysis.Counts{Revisions: map[string]analysis.Count{stable: {}}, Through: t0.Add(9 * time.Second)}},
	}
	for _, tt := range tests {
		got, err := s.Counts(context.Background(), tt.q)
		if err != nil {
			t.Fatalf("%s: Counts: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: Counts mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if _, err := s.Counts(context.Background(), analysis.Query{}); !errors.Is(err, analysis.ErrNoRevisions) {
		t.Errorf("Counts(no revisions) = %v, want ErrNoRevisions", err)
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	c := analysis.Count{Requests: 10, Errors: 3}
	if got := c.Rate(); got != 0.3 {
		t.Errorf("Rate = %v, want 0.3", got)
	}
	if got := (analysis.Count{}).Rate(); got != 0 {
		t.Errorf("zero Rate = %v, want 0", got)
	}
	if diff := cmp.Diff(analysis.Count{Requests: 0, Errors: 1}, (analysis.Count{Requests: 1, Errors: 4}).Sub(analysis.Count{Requests: 2, Errors: 3})); diff != "" {
		t.Errorf("Sub mismatch (-want +got):\n%s", diff)
	}
}

func check(step, percent int, since, now time.Time) traffic.Check {
	return traffic.Check{Stable: stable, Candidate: cand, Step: step, Percent: percent, Since: since, Now: now}
}

func TestSequentialVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rps        float64
		share      float64
		candRate   float64
		delay      time.Duration
		secs       int
		percent    int
		opts       []analysis.Option
		want       traffic.Outcome
		wantReason string
	}{
		{name: "healthy", rps: 200, share: 0.05, candRate: 0.001, secs: 300, percent: 5, want: traffic.Pass, wantReason: "no regression"},
		{name: "healthy but metrics lag", rps: 200, share: 0.05, candRate: 0.001, delay: 3 * time.Minute, secs: 300, percent: 5, want: traffic.Inconclusive, wantReason: "metrics cover 2m0s of the step, want 5m0s"},
		{name: "before bake", rps: 200, share: 0.05, candRate: 0.001, secs: 100, percent: 5, want: traffic.Inconclusive, wantReason: "metrics cover 1m40s"},
		{name: "low traffic", rps: 2, share: 0.05, candRate: 0.001, secs: 300, percent: 5, want: traffic.Inconclusive, wantReason: "low traffic: candidate served 30 requests, want 100"},
		{name: "20x regression", rps: 200, share: 0.05, candRate: 0.02, secs: 120, percent: 5, want: traffic.Fail, wantReason: "candidate fails more often than the stable"},
		{name: "total failure", rps: 200, share: 0.05, candRate: 1, secs: 2, percent: 5, want: traffic.Fail},
		{name: "crash only", rps: 2, share: 0.5, candRate: 1, secs: 4, percent: 5, want: traffic.Fail, wantReason: "candidate crashes"},
		{name: "all traffic", rps: 200, share: 1, candRate: 0.001, secs: 10, percent: 100, want: traffic.Pass, wantReason: "candidate serves all traffic"},
		{name: "lower error rate", rps: 2000, share: 0.25, candRate: 0, secs: 300, percent: 25, want: traffic.Pass},
		{name: "custom duration", rps: 200, share: 0.05, candRate: 0.001, secs: 60, percent: 5, opts: []analysis.Option{analysis.WithMinDuration(time.Minute)}, want: traffic.Pass},
		{name: "custom min requests", rps: 2, share: 0.05, candRate: 0.001, secs: 300, percent: 5, opts: []analysis.Option{analysis.WithMinRequests(10)}, want: traffic.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := fake.NewClock(t0.Add(time.Duration(tt.secs) * time.Second))
			s := analysis.NewScript(clk, tt.delay)
			fill(s, t0, tt.secs, tt.rps, tt.share, tt.candRate, 0.001)
			g, err := analysis.NewSequential(s, append([]analysis.Option{analysis.WithClock(clk)}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			v, err := g.Check(context.Background(), check(1, tt.percent, t0, clk.Now()))
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if v.Outcome != tt.want || !strings.Contains(v.Reason, tt.wantReason) || v.Gate != "sequential" {
				t.Errorf("Check = %s %q (gate %q), want %s containing %q", v.Outcome, v.Reason, v.Gate, tt.want, tt.wantReason)
			}
			for _, k := range []string{"candidate_requests", "candidate_errors", "stable_requests", "stable_errors", "e_value", "threshold", "crash_e_value", "crash_threshold"} {
				if _, ok := v.Numbers[k]; !ok {
					t.Errorf("Numbers lacks %q: %v", k, v.Numbers)
				}
			}
		})
	}
}

// TestSequentialNumbers checks the figures a verdict reports.
func TestSequentialNumbers(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(time.Minute))
	s := analysis.NewScript(clk, 0)
	s.Record(cand, t0, analysis.Count{Requests: 50, Errors: 0})
	s.Record(stable, t0, analysis.Count{Requests: 950, Errors: 1})
	g, err := analysis.NewSequential(s, analysis.WithAlpha(0.02), analysis.WithCrashTest(0.5, 0.01, 5))
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, k := range []string{"candidate_requests", "candidate_errors", "stable_requests", "stable_errors", "threshold", "crash_threshold", "covered_seconds", "lag_seconds"} {
		got[k] = v.Numbers[k]
	}
	want := map[string]float64{"candidate_requests": 50, "candidate_errors": 0, "stable_requests": 950, "stable_errors": 1, "threshold": 100, "crash_threshold": 100, "covered_seconds": 60, "lag_seconds": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Numbers mismatch (-want +got):\n%s", diff)
	}
	// One stable error and none of the candidate's is evidence for the
	// candidate: the e-value falls below 1.
	if e := v.Numbers["e_value"]; !(e < 1 && e > 0) {
		t.Errorf("e_value = %v, want in (0, 1)", e)
	}
}

// TestSequentialContinuousLooks asks every second while a 20× regression
// runs at 5%: the gate fails within seconds, and never passes before.
func TestSequentialContinuousLooks(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	s := analysis.NewScript(clk, 0)
	g, err := analysis.NewSequential(s)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	failedAt := -1
	for sec := range 300 {
		at := t0.Add(time.Duration(sec) * time.Second)
		nc, ns := poisson(rng, 10), poisson(rng, 190)
		s.Record(cand, at, analysis.Count{Requests: nc, Errors: binomial(rng, nc, 0.02)})
		s.Record(stable, at, analysis.Count{Requests: ns, Errors: binomial(rng, ns, 0.001)})
		clk.Advance(time.Second)
		v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Pass {
			t.Fatalf("passed at %ds: %s", sec+1, v.Reason)
		}
		if v.Outcome == traffic.Fail {
			failedAt = sec + 1
			break
		}
	}
	if failedAt < 0 || failedAt > 120 {
		t.Errorf("failed at %ds, want within 120s", failedAt)
	}
}

// TestSequentialFalseRollbacks runs healthy rollouts with a look every
// second (a seeded stream) and checks that the share rolled back stays
// within α: the test is valid under continuous monitoring.
func TestSequentialFalseRollbacks(t *testing.T) {
	t.Parallel()
	const runs = 200
	const alpha = 0.05
	rng := rand.New(rand.NewPCG(3, 4))
	fails := 0
	for range runs {
		clk := fake.NewClock(t0)
		s := analysis.NewScript(clk, 0)
		g, err := analysis.NewSequential(s, analysis.WithAlpha(alpha))
		if err != nil {
			t.Fatal(err)
		}
		for sec := range 600 {
			at := t0.Add(time.Duration(sec) * time.Second)
			share, since, step := 0.05, t0, 1
			if sec >= 300 {
				share, since, step = 0.25, t0.Add(300*time.Second), 2
			}
			nc, ns := poisson(rng, 20*share), poisson(rng, 20*(1-share))
			s.Record(cand, at, analysis.Count{Requests: nc, Errors: binomial(rng, nc, 0.01)})
			s.Record(stable, at, analysis.Count{Requests: ns, Errors: binomial(rng, ns, 0.01)})
			clk.Advance(time.Second)
			v, err := g.Check(context.Background(), check(step, int(share*100), since, clk.Now()))
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome == traffic.Fail {
				fails++
				break
			}
		}
	}
	if rate := float64(fails) / runs; rate > alpha {
		t.Errorf("false rollbacks %d/%d = %.3f, want ≤ α = %v", fails, runs, rate, alpha)
	}
}

// TestSequentialProbe: the primary metrics lag 3 minutes, the probe does
// not, and a crashing candidate fails on the probe's evidence alone.
func TestSequentialProbe(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	primary := analysis.NewScript(clk, 3*time.Minute)
	probe := analysis.NewScript(clk, 0)
	g, err := analysis.NewSequential(primary, analysis.WithProbe(probe))
	if err != nil {
		t.Fatal(err)
	}
	failedAt := -1
	for sec := range 60 {
		at := t0.Add(time.Duration(sec) * time.Second)
		fill(primary, at, 1, 200, 0.05, 1, 0.001)
		if sec%2 == 0 {
			probe.Record(cand, at, analysis.Count{Requests: 1, Errors: 1})
		} else {
			probe.Record(stable, at, analysis.Count{Requests: 1})
		}
		clk.Advance(time.Second)
		v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Fail {
			failedAt = sec + 1
			if !strings.Contains(v.Reason, "crashes") {
				t.Errorf("reason %q, want the crash test", v.Reason)
			}
			break
		}
	}
	if failedAt < 0 || failedAt > 10 {
		t.Errorf("failed at %ds, want within 10s", failedAt)
	}
}

// TestSequentialAcrossSteps: evidence from step 1 carries into step 2, and a
// new rollout (step 1 again, later) starts afresh.
func TestSequentialAcrossSteps(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(20 * time.Minute))
	s := analysis.NewScript(clk, 0)
	// Step 1: the candidate has 6 errors in 3000 requests, the stable 60 in
	// 57000: a mild excess, not a failure.
	s.Record(cand, t0, analysis.Count{Requests: 3000, Errors: 8})
	s.Record(stable, t0, analysis.Count{Requests: 57000, Errors: 57})
	g, err := analysis.NewSequential(s, analysis.WithHold(math.Inf(1), 0))
	if err != nil {
		t.Fatal(err)
	}
	v1, err := g.Check(context.Background(), check(1, 5, t0, t0.Add(5*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if v1.Outcome != traffic.Pass {
		t.Fatalf("step 1: %s %s, want pass", v1.Outcome, v1.Reason)
	}
	s.Record(cand, t0.Add(6*time.Minute), analysis.Count{Requests: 15000, Errors: 40})
	s.Record(stable, t0.Add(6*time.Minute), analysis.Count{Requests: 45000, Errors: 45})
	v2, err := g.Check(context.Background(), check(2, 25, t0.Add(5*time.Minute), t0.Add(10*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if v2.Outcome != traffic.Fail || v2.Numbers["candidate_requests"] != 18000 {
		t.Errorf("step 2: %s %s %v, want fail on 18000 candidate requests", v2.Outcome, v2.Reason, v2.Numbers)
	}
	// A new rollout of the same pair starts from its own step 1.
	v3, err := g.Check(context.Background(), check(1, 5, t0.Add(7*time.Minute), t0.Add(20*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if v3.Numbers["candidate_requests"] != 0 || v3.Outcome == traffic.Fail {
		t.Errorf("new rollout: %s %v, want fresh evidence", v3.Outcome, v3.Numbers)
	}
}

func TestSequentialErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	m := analysis.MetricsFunc(func(context.Context, analysis.Query) (analysis.Counts, error) { return analysis.Counts{}, boom })
	g, err := analysis.NewSequential(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.Check(context.Background(), check(1, 5, t0, t0.Add(time.Minute)))
	if !errors.Is(err, boom) || v.Outcome != traffic.Inconclusive {
		t.Errorf("Check = %v, %v; want Inconclusive and the source's error", v.Outcome, err)
	}
	if _, err := g.Check(context.Background(), traffic.Check{Candidate: cand}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Check(no stable) = %v, want ErrInvalid", err)
	}
	bad := [][]analysis.Option{
		{analysis.WithAlpha(0)}, {analysis.WithAlpha(1)}, {analysis.WithCrashTest(1, 0.01, 5)},
		{analysis.WithCrashTest(0.5, 0, 5)}, {analysis.WithCrashTest(0.5, 0.01, 0.5)},
		{analysis.WithMinDuration(-1)}, {analysis.WithMinRequests(-1)}, {analysis.WithRatios(1, 2, 3)},
		{analysis.WithRatios(2, 1.5, 3)}, {analysis.WithRatios(1.5, 2, 0)}, {analysis.WithProbe(nil)},
		{analysis.WithInterval(0)}, {analysis.WithMaxErrorRate(1)}, {analysis.WithFailureLimit(0)},
	}
	for i, opts := range bad {
		if _, err := analysis.NewSequential(analysis.NewScript(nil, 0), opts...); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("options %d: NewSequential error %v, want ErrInvalid", i, err)
		}
	}
	if _, err := analysis.NewSequential(nil); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("NewSequential(nil) = %v, want ErrInvalid", err)
	}
}

func poisson(rng *rand.Rand, mean float64) int64 {
	if mean > 500 {
		// Knuth's method underflows; the normal approximation is close.
		return max(0, int64(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())))
	}
	// Knuth, for small means.
	l, k, p := math.Exp(-mean), int64(0), 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func binomial(rng *rand.Rand, n int64, p float64) int64 {
	var k int64
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

func TestSubtract(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(10 * time.Minute))
	primary := analysis.NewScript(clk, 3*time.Minute)
	probe := analysis.NewScript(clk, 0)
	for m := range 10 {
		at := t0.Add(time.Duration(m) * time.Minute)
		primary.Record(cand, at, analysis.Count{Requests: 100, Errors: 3})
		probe.Record(cand, at, analysis.Count{Requests: 90, Errors: 1})
		probe.Record(stable, at, analysis.Count{Requests: 5})
	}
	got, err := analysis.Subtract(primary, probe).Counts(context.Background(), analysis.Query{Revisions: []string{cand, stable}, Start: t0, End: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// Complete through 7m: 7 minutes of 100-90 requests, 3-1 errors; the
	// stable had only probe requests in the probe, none in the primary.
	want := analysis.Counts{Revisions: map[string]analysis.Count{cand: {Requests: 70, Errors: 14}, stable: {}}, Through: t0.Add(7 * time.Minute)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Subtract mismatch (-want +got):\n%s", diff)
	}
	boom := errors.New("boom")
	bad := analysis.MetricsFunc(func(context.Context, analysis.Query) (analysis.Counts, error) { return analysis.Counts{}, boom })
	if _, err := analysis.Subtract(primary, bad).Counts(context.Background(), analysis.Query{Revisions: []string{cand}, End: clk.Now()}); !errors.Is(err, boom) {
		t.Errorf("Subtract(probe failing) = %v, want boom", err)
	}
	if _, err := analysis.Subtract(bad, probe).Counts(context.Background(), analysis.Query{Revisions: []string{cand}, End: clk.Now()}); !errors.Is(err, boom) {
		t.Errorf("Subtract(primary failing) = %v, want boom", err)
	}
}

// TestUnusedOptionsRefused: a constructor refuses an option it does not
// read, naming the option and who reads it, instead of ignoring it.
func TestUnusedOptionsRefused(t *testing.T) {
	t.Parallel()
	m := analysis.NewScript(fake.NewClock(t0), 0)
	st := analysis.ProbeTarget{Revision: "s", URL: "http://127.0.0.1:1"}
	ct := analysis.ProbeTarget{Revision: "c", URL: "http://127.0.0.1:2"}
	for _, tc := range []struct {
		name string
		new  func() error
		want string // in the message; "" means accepted
	}{
		{"sequential takes WithAlpha", func() error { _, err := analysis.NewSequential(m, analysis.WithAlpha(0.05)); return err }, ""},
		{"threshold refuses WithAlpha", func() error { _, err := analysis.NewThreshold(m, analysis.WithAlpha(0.05)); return err }, "WithAlpha is an option of NewSequential"},
		{"sequential refuses WithInterval", func() error { _, err := analysis.NewSequential(m, analysis.WithInterval(time.Minute)); return err }, "WithInterval is an option of NewThreshold"},
		{"sequential refuses a preset", func() error { _, err := analysis.NewSequential(m, analysis.FlaggerDefaults()...); return err }, "WithMaxErrorRate"},
		{"both take WithMinRequests", func() error {
			if _, err := analysis.NewSequential(m, analysis.WithMinRequests(5)); err != nil {
				return err
			}
			_, err := analysis.NewThreshold(m, analysis.WithMinRequests(5))
			return err
		}, ""},
		{"probe refuses WithName", func() error { _, err := analysis.NewProbe(st, ct, analysis.WithName("x")); return err }, "WithName is an option of NewSequential and NewThreshold"},
		{"probe takes WithClock", func() error { _, err := analysis.NewProbe(st, ct, analysis.WithClock(fake.NewClock(t0))); return err }, ""},
		{"gate refuses a probe option", func() error { _, err := analysis.NewSequential(m, analysis.WithProbeRate(1)); return err }, "WithProbeRate is an option of NewProbe"},
	} {
		err := tc.new()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want success", tc.name, err)
		case tc.want != "" && (!errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want ErrInvalid saying %q", tc.name, err, tc.want)
		}
	}
}
