package analysis_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// TestSequentialPromotionHold: before full traffic, a step whose data
// favour a 2× regression keeps baking, as long as the traffic could have
// told a healthy candidate apart and for at most the hold's duration.
func TestSequentialPromotionHold(t *testing.T) {
	t.Parallel()
	noHold := analysis.WithHold(math.Inf(1), 0) // isolate the promotion hold
	tests := []struct {
		name       string
		rps        float64
		candRate   float64
		next       int
		opts       []analysis.Option
		want       traffic.Outcome
		wantReason string
	}{
		// 10 min at 25% of 200 req/s: 30,000 candidate requests. At 1.5×
		// the stable's 0.1% the likelihood ratio of 2× against none is
		// about e^1.1, above 0.1, while a healthy candidate would be
		// expected near e^−9.2; the relative test has not failed yet.
		{name: "suspect before 100%", rps: 200, candRate: 0.0015, next: 100, want: traffic.Inconclusive, wantReason: "holding before full traffic: the data favour a 2× regression over none"},
		{name: "suspect before another step", rps: 200, candRate: 0.0015, next: 50, want: traffic.Pass},
		{name: "healthy before 100%", rps: 200, candRate: 0.001, next: 100, want: traffic.Pass},
		{name: "low traffic cannot tell", rps: 20, candRate: 0.0015, next: 100, want: traffic.Pass},
		{name: "hold over", rps: 200, candRate: 0.0015, next: 100, opts: []analysis.Option{analysis.WithPromotionHold(2, 0.1, 4*time.Minute)}, want: traffic.Pass},
		{name: "hold off", rps: 200, candRate: 0.0015, next: 100, opts: []analysis.Option{analysis.WithPromotionHold(2, 0.1, 0)}, want: traffic.Pass},
		{name: "looser level", rps: 200, candRate: 0.0015, next: 100, opts: []analysis.Option{analysis.WithPromotionHold(2, 5, 20*time.Minute)}, want: traffic.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const secs = 600
			clk := fake.NewClock(t0.Add(secs * time.Second))
			s := analysis.NewScript(clk, 0)
			fill(s, t0, secs, tt.rps, 0.25, tt.candRate, 0.001)
			g, err := analysis.NewSequential(s, append([]analysis.Option{analysis.WithClock(clk), noHold}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			c := check(2, 25, t0, clk.Now())
			c.Next = tt.next
			v, err := g.Check(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if v.Outcome != tt.want || !strings.Contains(v.Reason, tt.wantReason) {
				t.Errorf("Check = %s %q, want %s containing %q (numbers %v)", v.Outcome, v.Reason, tt.want, tt.wantReason, v.Numbers)
			}
			if _, ok := v.Numbers["promotion_likelihood_ratio"]; !ok {
				t.Errorf("Numbers lacks promotion_likelihood_ratio: %v", v.Numbers)
			}
		})
	}
}

// TestSequentialRatioDecay: weighing small ratios more raises the evidence
// against a small regression and lowers it against a large one.
func TestSequentialRatioDecay(t *testing.T) {
	t.Parallel()
	eValue := func(secs int, candRate, k float64) float64 {
		t.Helper()
		clk := fake.NewClock(t0.Add(time.Duration(secs) * time.Second))
		s := analysis.NewScript(clk, 0)
		fill(s, t0, secs, 200, 0.25, candRate, 0.001)
		g, err := analysis.NewSequential(s, analysis.WithClock(clk), analysis.WithRatioDecay(k))
		if err != nil {
			t.Fatal(err)
		}
		v, err := g.Check(context.Background(), check(1, 25, t0, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		return v.Numbers["e_value"]
	}
	if flat, small := eValue(300, 0.002, 0), eValue(300, 0.002, 1); !(small > flat) {
		t.Errorf("2× regression: e-value %v with decay 1, want above %v with decay 0", small, flat)
	}
	if flat, small := eValue(10, 0.05, 0), eValue(10, 0.05, 1); !(small < flat) {
		t.Errorf("50× regression: e-value %v with decay 1, want below %v with decay 0", small, flat)
	}
}

func TestPromotionHoldAndDecayValidation(t *testing.T) {
	t.Parallel()
	s := analysis.NewScript(fake.NewClock(t0), 0)
	for _, o := range []analysis.Option{
		analysis.WithPromotionHold(1, 0.1, time.Minute),
		analysis.WithPromotionHold(2, 0, time.Minute),
		analysis.WithPromotionHold(2, math.NaN(), time.Minute),
		analysis.WithPromotionHold(2, 0.1, -time.Minute),
		analysis.WithRatioDecay(-1),
		analysis.WithRatioDecay(math.NaN()),
		analysis.WithRatioDecay(11),
	} {
		if _, err := analysis.NewSequential(s, o); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("NewSequential: error %v, want ErrInvalid", err)
		}
	}
}

// TestSequentialSparseBatches: at low traffic the revisions seldom serve in
// the same second; the relative test keeps a batch open until both have,
// so none of their requests is lost.
func TestSequentialSparseBatches(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	s := analysis.NewScript(clk, 0)
	g, err := analysis.NewSequential(s, analysis.WithClock(clk), analysis.WithCrashTest(0, 0.01, 5))
	if err != nil {
		t.Fatal(err)
	}
	var v traffic.Verdict
	for sec := range 600 {
		at := t0.Add(time.Duration(sec) * time.Second)
		if sec%10 == 0 { // the candidate: one request every 10 s, a third failing
			var e int64
			if (sec/10)%3 == 0 {
				e = 1
			}
			s.Record(cand, at, analysis.Count{Requests: 1, Errors: e})
		} else { // the stable: 10 requests a second in the others, 1 in 200 failing
			s.Record(stable, at, analysis.Count{Requests: 10, Errors: int64(sec % 20 / 19)})
		}
		clk.Advance(time.Second)
		if v, err = g.Check(context.Background(), check(1, 5, t0, clk.Now())); err != nil {
			t.Fatal(err)
		}
		if v.Outcome == traffic.Fail {
			break
		}
	}
	if v.Outcome != traffic.Fail || !strings.Contains(v.Reason, "candidate fails more often than the stable") {
		t.Errorf("a candidate failing a third of its requests against the stable's 0.5%%, never in the same second: %s %q (numbers %v), want the relative test's Fail", v.Outcome, v.Reason, v.Numbers)
	}
}
