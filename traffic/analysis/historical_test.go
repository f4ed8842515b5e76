package analysis_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// watchRun scripts one rollout of traffic.DefaultPlan at rps requests a
// second (5% for 5 min, 25% for 5 min, then 100% for watch), the stable
// failing stableRate and the candidate candRate of its requests (Poisson
// error counts per 10-second batch), and asks g every 10 s as the rollout
// engine would. With baseline, the metrics hold the stable's last day
// before the rollout (Poisson errors at stableRate). It returns the
// verdict that failed and the second it failed at, or a zero verdict and
// -1.
func watchRun(t *testing.T, rng *rand.Rand, opts []analysis.Option, rps, candRate, stableRate float64, watch time.Duration, baseline bool) (traffic.Verdict, int) {
	t.Helper()
	clk := fake.NewClock(t0)
	s := analysis.NewScript(clk, 0)
	if baseline {
		n := int64(rps * 86400)
		s.Record(stable, t0.Add(-24*time.Hour), analysis.Count{Requests: n, Errors: poisson(rng, float64(n)*stableRate)})
	}
	g, err := analysis.NewSequential(s, append([]analysis.Option{analysis.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 10
	end := 600 + int(watch/time.Second)
	for sec := 0; sec < end; sec += batch {
		share, step, since := 0.05, 1, t0
		switch {
		case sec >= 600:
			share, step, since = 1, 3, t0.Add(600*time.Second)
		case sec >= 300:
			share, step, since = 0.25, 2, t0.Add(300*time.Second)
		}
		at := t0.Add(time.Duration(sec) * time.Second)
		nc := int64(rps * batch * share)
		ns := int64(rps*batch) - nc
		s.Record(cand, at, analysis.Count{Requests: nc, Errors: min(poisson(rng, float64(nc)*candRate), nc)})
		s.Record(stable, at, analysis.Count{Requests: ns, Errors: min(poisson(rng, float64(ns)*stableRate), ns)})
		clk.Advance(batch * time.Second)
		v, err := g.Check(context.Background(), traffic.Check{Stable: stable, Candidate: cand, Step: step, Percent: int(share * 100), Since: since, Now: clk.Now(), Started: t0})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Fail {
			return v, sec + batch
		}
	}
	return traffic.Verdict{}, -1
}

const historicalReason = "than the stable did before 100%"

// TestSequentialHistoricalFalseRollbacks: a healthy candidate watched for
// 30 minutes at 100% is failed by the historical test at most α_h of the
// time (here α_h = 0.05, so that the bound is checkable in 300 runs).
func TestSequentialHistoricalFalseRollbacks(t *testing.T) {
	t.Parallel()
	const runs = 300
	const alphaH = 0.05
	rng := rand.New(rand.NewPCG(5, 6))
	hist, earlier := 0, 0
	for range runs {
		v, at := watchRun(t, rng, []analysis.Option{analysis.WithHistoricalTest(alphaH)}, 200, 0.001, 0.001, 30*time.Minute, false)
		switch {
		case at < 0:
		case strings.Contains(v.Reason, historicalReason):
			hist++
			if at <= 600 {
				t.Errorf("historical test failed at %ds, before 100%%", at)
			}
		default:
			earlier++
		}
	}
	if rate := float64(hist) / runs; rate > alphaH {
		t.Errorf("historical false rollbacks %d/%d = %.3f, want ≤ α_h = %v", hist, runs, rate, alphaH)
	}
	t.Logf("healthy: %d historical and %d other false rollbacks in %d runs", hist, earlier, runs)
}

// TestSequentialHistoricalDetects: a 2× regression at 200 req/s that the
// 5% and 25% steps let through is failed during a 30-minute watch by the
// historical test (default α_h), and never when the test is off.
func TestSequentialHistoricalDetects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		opts       []analysis.Option
		minCaught  float64 // least share of the runs that reach 100% to be failed there
		maxCaught  float64
		wantBefore bool // some runs fail before 100%
	}{
		{name: "default", minCaught: 0.95, maxCaught: 1, wantBefore: true},
		{name: "off", opts: []analysis.Option{analysis.WithHistoricalTest(0)}, minCaught: 0, maxCaught: 0, wantBefore: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const runs = 100
			rng := rand.New(rand.NewPCG(7, 8))
			reached, caught, before := 0, 0, 0
			var worst int
			for range runs {
				v, at := watchRun(t, rng, tt.opts, 200, 0.002, 0.001, 30*time.Minute, false)
				switch {
				case at >= 0 && at <= 600:
					before++
					continue
				case at > 600 && !strings.Contains(v.Reason, historicalReason):
					t.Errorf("failed at %ds by %q, want the historical test at 100%%", at, v.Reason)
				case at > 600:
					caught++
					worst = max(worst, at-600)
				}
				reached++
			}
			if reached == 0 {
				t.Fatal("no run reached 100%; the test does not exercise the watch")
			}
			share := float64(caught) / float64(reached)
			if share < tt.minCaught || share > tt.maxCaught {
				t.Errorf("historical test failed %d of the %d runs that reached 100%% (%.2f), want %.2f..%.2f", caught, reached, share, tt.minCaught, tt.maxCaught)
			}
			if (before > 0) != tt.wantBefore {
				t.Errorf("%d runs failed before 100%%, want some: %v", before, tt.wantBefore)
			}
			t.Logf("%s: %d/%d failed before 100%%, %d/%d of the rest at 100%% (slowest %ds after)", tt.name, before, runs, caught, reached, worst)
		})
	}
}

// TestSequentialBaselineTest: with the stable's last day as a known
// baseline the historical test judges every look before 100%, against
// an upper bound of the stable's rate: healthy candidates are failed by it
// at most α_h (+ 0.001) of the time, and a 2× regression at 200 req/s is
// failed by it before 100% in most runs (without a baseline, never).
func TestSequentialBaselineTest(t *testing.T) {
	t.Parallel()
	const runs = 200
	const alphaH = 0.05
	// Only the historical test: the others' budgets are negligible.
	opts := []analysis.Option{analysis.WithHistoricalTest(alphaH), analysis.WithAlpha(1e-9), analysis.WithLatencyTest(0), analysis.WithPromotionHold(2, 0.1, 0)}
	count := func(candRate float64, baseline bool) (hist int) {
		rng := rand.New(rand.NewPCG(9, 10))
		for range runs {
			v, at := watchRun(t, rng, opts, 200, candRate, 0.001, 0, baseline)
			if at >= 0 && at <= 600 && strings.Contains(v.Reason, "stable's history") {
				hist++
			}
		}
		return hist
	}
	healthy, bad, blind := count(0.001, true), count(0.002, true), count(0.002, false)
	if float64(healthy)/runs > alphaH+0.001 {
		t.Errorf("healthy: %d/%d failed by the historical test, want ≤ %v", healthy, runs, alphaH+0.001)
	}
	if bad < runs*7/10 {
		t.Errorf("2×: %d/%d failed before 100%% by the historical test with a baseline, want ≥ 70%%", bad, runs)
	}
	if blind != 0 {
		t.Errorf("2×: %d/%d failed before 100%% by the historical test without a baseline, want none", blind, runs)
	}
	t.Logf("failed by the historical test before 100%%: healthy %d, 2× %d (without a baseline %d) of %d", healthy, bad, blind, runs)
}

// TestSequentialHistoricalFreshGate: a gate created afresh during the watch
// (after a restart) reads the whole rollout from Check.Started, so it has
// the stable's earlier rate to compare with and fails a regressed candidate.
func TestSequentialHistoricalFreshGate(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(40 * time.Minute))
	s := analysis.NewScript(clk, 0)
	fill(s, t0, 300, 200, 0.05, 0.001, 0.001)
	fill(s, t0.Add(5*time.Minute), 300, 200, 0.25, 0.001, 0.001)
	// At 100% the candidate fails 3× the stable's rate for 30 minutes.
	fill(s, t0.Add(10*time.Minute), 1800, 200, 1, 0.003, 0)
	tests := []struct {
		name       string
		started    time.Time
		want       traffic.Outcome
		wantStable float64
		wantReason string
		wantHist   bool // the historical e-value is past its threshold
		opts       []analysis.Option
	}{
		// Read as one batch, the whole rollout also fails the relative
		// test (which is checked first); what matters is the stable's data.
		{name: "started known", started: t0, want: traffic.Fail, wantStable: 102000, wantReason: "candidate fails more often than the stable", wantHist: true},
		{name: "started unknown, no baseline", want: traffic.Pass, wantStable: 0, wantReason: "candidate serves all traffic", opts: []analysis.Option{analysis.WithBaseline(0)}},
		// The stable's history before the gate's origin (the earlier
		// steps here) is the baseline.
		{name: "started unknown, baseline", want: traffic.Fail, wantStable: 0, wantReason: "than the stable's history", wantHist: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := analysis.NewSequential(s, append(tt.opts, analysis.WithClock(clk))...)
			if err != nil {
				t.Fatal(err)
			}
			v, err := g.Check(context.Background(), traffic.Check{Stable: stable, Candidate: cand, Step: 3, Percent: 100, Since: t0.Add(10 * time.Minute), Now: clk.Now(), Started: tt.started})
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tt.want || !strings.Contains(v.Reason, tt.wantReason) || v.Numbers["stable_requests"] != tt.wantStable {
				t.Errorf("Check = %s %q, stable_requests %v; want %s containing %q, stable_requests %v", v.Outcome, v.Reason, v.Numbers["stable_requests"], tt.want, tt.wantReason, tt.wantStable)
			}
			if got := v.Numbers["historical_e_value"] >= v.Numbers["historical_threshold"]; got != tt.wantHist {
				t.Errorf("historical e-value %v, threshold %v: past it %v, want %v", v.Numbers["historical_e_value"], v.Numbers["historical_threshold"], got, tt.wantHist)
			}
			if v.Numbers["historical_threshold"] != 200 {
				t.Errorf("historical_threshold %v, want 200 (1/0.005)", v.Numbers["historical_threshold"])
			}
		})
	}
}

// TestBaselineGuard: the stable's history is a baseline while the stable
// fails now as it did then; when both revisions fail three times as often
// as in the history (a time-of-day surge), the guard drops the history
// and a candidate no worse than the stable is not rolled back (against
// the history's 0.1% its 0.3% would be a regression).
func TestBaselineGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		nowRate  float64
		wantUse  float64
		wantFail bool
	}{
		{"stationary", 0.001, 1, false},
		{"surge", 0.003, 0, false},
	} {
		clk := fake.NewClock(t0.Add(5 * time.Minute))
		s := analysis.NewScript(clk, 0)
		s.Record(stable, t0.Add(-24*time.Hour), analysis.Count{Requests: 200 * 86400, Errors: 200 * 86400 / 1000})
		fill(s, t0, 300, 200, 0.25, tc.nowRate, tc.nowRate)
		g, err := analysis.NewSequential(s, analysis.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		v, err := g.Check(context.Background(), check(2, 25, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if v.Numbers["baseline_in_use"] != tc.wantUse || (v.Outcome == traffic.Fail) != tc.wantFail || v.Numbers["baseline_requests"] != 200*86400 {
			t.Errorf("%s: %s %q, numbers %v; want baseline in use %v, fail %v", tc.name, v.Outcome, v.Reason, v.Numbers, tc.wantUse, tc.wantFail)
		}
		if tc.name == "surge" && !(v.Numbers["baseline_guard_e_value"] >= 10) {
			t.Errorf("surge: guard e-value %v, want ≥ 10", v.Numbers["baseline_guard_e_value"])
		}
	}
}

// TestBaselineIgnoresProbe: a probe whose path fails more often than the
// users' requests (here 2% on both revisions) does not make a healthy
// candidate look worse than the stable's history: the known-baseline test
// reads the primary metrics only, which hold the users' requests, as the
// history does.
func TestBaselineIgnoresProbe(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	s := analysis.NewScript(clk, 0)
	s.Record(stable, t0.Add(-24*time.Hour), analysis.Count{Requests: 200 * 86400, Errors: 200 * 86400 / 1000})
	probe := analysis.NewScript(clk, 0)
	g, err := analysis.NewSequential(s, analysis.WithClock(clk), analysis.WithProbe(probe))
	if err != nil {
		t.Fatal(err)
	}
	// The users at 0.1% on both revisions, the probe at 2% on both, 5%
	// then 25% of the users' traffic to the candidate.
	for i, share := range []float64{0.05, 0.25} {
		at := t0.Add(time.Duration(300*i) * time.Second)
		fill(s, at, 300, 200, share, 0.001, 0.001)
		fill(probe, at, 300, 2, 0.9, 0.02, 0.02)
	}
	for sec := 0; sec < 600; sec += 10 {
		share, step, since := 0.05, 1, t0
		if sec >= 300 {
			share, step, since = 0.25, 2, t0.Add(300*time.Second)
		}
		clk.Advance(10 * time.Second)
		v, err := g.Check(context.Background(), traffic.Check{Stable: stable, Candidate: cand, Step: step, Percent: int(share * 100), Since: since, Now: clk.Now(), Started: t0})
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Fail {
			t.Fatalf("at %ds: %s (numbers %v)", sec+10, v.Reason, v.Numbers)
		}
		if sec == 590 && (v.Numbers["baseline_in_use"] != 1 || v.Numbers["historical_e_value"] >= 1) {
			t.Errorf("after 10 min: baseline in use %v, historical e-value %v; want the baseline in use and no evidence against the candidate", v.Numbers["baseline_in_use"], v.Numbers["historical_e_value"])
		}
	}
}

// TestCrashCeilingFromBaseline: with the stable's history the crash
// test's ceiling is five times the history's upper bound on its rate
// (not the 1% floor that stands for an unknown rate), and never below
// 0.1%, where a single error would decide.
func TestCrashCeilingFromBaseline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		history analysis.Count
		lo, hi  float64
	}{
		{"0.1% over a day", analysis.Count{Requests: 200 * 86400, Errors: 200 * 86400 / 1000}, 0.0051, 0.0052},
		{"no errors in a day", analysis.Count{Requests: 200 * 86400}, 0.001, 0.001},
		{"no history", analysis.Count{}, 0.01, 0.01},
	} {
		clk := fake.NewClock(t0.Add(10 * time.Second))
		s := analysis.NewScript(clk, 0)
		if tc.history.Requests > 0 {
			s.Record(stable, t0.Add(-24*time.Hour), tc.history)
		}
		// Ten seconds at 5%, no errors on either revision: the ceiling
		// comes from the history (or the floor) alone.
		fill(s, t0, 10, 200, 0.05, 0, 0)
		g, err := analysis.NewSequential(s, analysis.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if c := v.Numbers["crash_ceiling"]; c < tc.lo || c > tc.hi {
			t.Errorf("%s: crash ceiling %v, want %v..%v", tc.name, c, tc.lo, tc.hi)
		}
	}
}
