package analysis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// minute records one minute of candidate traffic starting at t0+m minutes.
func minute(s *analysis.Script, m int, requests, errors int64) {
	s.Record(cand, t0.Add(time.Duration(m)*time.Minute), analysis.Count{Requests: requests, Errors: errors})
	s.Record(stable, t0.Add(time.Duration(m)*time.Minute), analysis.Count{Requests: 1000, Errors: 1})
}

func TestThresholdPresets(t *testing.T) {
	t.Parallel()
	type look struct {
		at      time.Duration // after t0
		want    traffic.Outcome
		contain string
	}
	tests := []struct {
		name    string
		opts    []analysis.Option
		delay   time.Duration
		minutes [][2]int64 // per minute: requests, errors
		looks   []look
	}{
		{
			name:    "codedeploy: one breaching minute fails",
			opts:    analysis.CodeDeployDefaults(),
			minutes: [][2]int64{{100, 0}, {100, 2}, {100, 0}},
			looks: []look{
				{time.Minute, traffic.Pass, "check passed"},
				{90 * time.Second, traffic.Pass, "check passed"}, // same window: repeated
				{2 * time.Minute, traffic.Fail, "1 of 1 allowed failed checks"},
				{3 * time.Minute, traffic.Fail, ""}, // final
			},
		},
		{
			name:    "codedeploy: missing data is not a failure",
			opts:    analysis.CodeDeployDefaults(),
			minutes: [][2]int64{{0, 0}, {100, 1}},
			looks:   []look{{time.Minute, traffic.Inconclusive, "low traffic"}, {2 * time.Minute, traffic.Pass, ""}},
		},
		{
			name:    "flagger: no data is a failed check, ten fail",
			opts:    analysis.FlaggerDefaults(),
			minutes: make([][2]int64, 12),
			looks: []look{
				{time.Minute, traffic.Inconclusive, "no data counts as a failed check (1 of 10)"},
				{2 * time.Minute, traffic.Inconclusive, "(2 of 10)"},
				{3 * time.Minute, traffic.Inconclusive, "(3 of 10)"},
				{4 * time.Minute, traffic.Inconclusive, "(4 of 10)"},
				{5 * time.Minute, traffic.Inconclusive, "(5 of 10)"},
				{6 * time.Minute, traffic.Inconclusive, "(6 of 10)"},
				{7 * time.Minute, traffic.Inconclusive, "(7 of 10)"},
				{8 * time.Minute, traffic.Inconclusive, "(8 of 10)"},
				{9 * time.Minute, traffic.Inconclusive, "(9 of 10)"},
				{10 * time.Minute, traffic.Fail, "10 of 10"},
			},
		},
		{
			name:    "flagger: failures accumulate, passes between",
			opts:    analysis.FlaggerDefaults(),
			minutes: [][2]int64{{100, 2}, {100, 0}, {100, 5}},
			looks: []look{
				{time.Minute, traffic.Inconclusive, "check failed (1 of 10 allowed)"},
				{2 * time.Minute, traffic.Pass, ""},
				{3 * time.Minute, traffic.Inconclusive, "2 of 10"},
			},
		},
		{
			name:    "argo: the fourth failure fails (failureLimit 3)",
			opts:    analysis.ArgoDefaults(),
			minutes: repeat(25, 100, 6),
			looks: []look{
				{5 * time.Minute, traffic.Inconclusive, "1 of 4"},
				{7 * time.Minute, traffic.Inconclusive, "1 of 4"},  // no new window yet
				{15 * time.Minute, traffic.Inconclusive, "2 of 4"}, // one window at a time
				{20 * time.Minute, traffic.Inconclusive, "3 of 4"},
				{25 * time.Minute, traffic.Fail, "4 of 4"},
			},
		},
		{
			name:    "argo: 5% errors is still a success",
			opts:    analysis.ArgoDefaults(),
			minutes: [][2]int64{{100, 5}, {100, 5}, {100, 5}, {100, 5}, {100, 5}},
			looks:   []look{{5 * time.Minute, traffic.Pass, "check passed"}},
		},
		{
			name:    "trailing window: delayed data is missing data",
			opts:    append(analysis.FlaggerDefaults(), analysis.WithTrailingWindow(true)),
			delay:   3 * time.Minute,
			minutes: repeat(5, 100, 0),
			looks: []look{
				{time.Minute, traffic.Inconclusive, "no data counts as a failed check (1 of 10)"},
				{4 * time.Minute, traffic.Inconclusive, "(2 of 10)"},
			},
		},
		{
			name:    "delayed metrics: the window ends where data does",
			opts:    analysis.CodeDeployDefaults(),
			delay:   3 * time.Minute,
			minutes: [][2]int64{{100, 50}, {100, 0}, {100, 0}, {100, 0}, {100, 0}},
			looks: []look{
				// No data of the rollout has arrived: no check.
				{time.Minute, traffic.Inconclusive, "no complete window yet"},
				{4 * time.Minute, traffic.Fail, "50/100"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := fake.NewClock(t0)
			s := analysis.NewScript(clk, tt.delay)
			for m, c := range tt.minutes {
				minute(s, m, c[0], c[1])
			}
			g, err := analysis.NewThreshold(s, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.looks {
				clk.Set(t0.Add(l.at))
				v, err := g.Check(context.Background(), check(1, 5, t0, clk.Now()))
				if err != nil {
					t.Fatal(err)
				}
				if v.Outcome != l.want || !strings.Contains(v.Reason, l.contain) {
					t.Errorf("at %v: %s %q, want %s containing %q", l.at, v.Outcome, v.Reason, l.want, l.contain)
				}
			}
		})
	}
}

// TestThresholdStepCoverage: a passing window that began before the step
// does not pass the step.
func TestThresholdStepCoverage(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	s := analysis.NewScript(clk, 0)
	for m := range 5 {
		minute(s, m, 100, 0)
	}
	g, err := analysis.NewThreshold(s, analysis.WithMinRequests(10))
	if err != nil {
		t.Fatal(err)
	}
	since := t0.Add(90 * time.Second)
	for _, tc := range []struct {
		at   time.Duration
		want traffic.Outcome
	}{{2 * time.Minute, traffic.Inconclusive}, {150 * time.Second, traffic.Inconclusive}, {3 * time.Minute, traffic.Pass}} {
		clk.Set(t0.Add(tc.at))
		v, err := g.Check(context.Background(), check(2, 10, since, clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if v.Outcome != tc.want {
			t.Errorf("at %v: %s %q, want %s", tc.at, v.Outcome, v.Reason, tc.want)
		}
		if v.Numbers["candidate_requests"] == 0 || v.Numbers["failure_limit"] != 1 {
			t.Errorf("Numbers = %v", v.Numbers)
		}
	}
}

func TestThresholdErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	g, err := analysis.NewThreshold(analysis.MetricsFunc(func(context.Context, analysis.Query) (analysis.Counts, error) {
		return analysis.Counts{}, boom
	}))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := g.Check(context.Background(), check(1, 5, t0, t0)); !errors.Is(err, boom) || v.Outcome != traffic.Inconclusive {
		t.Errorf("Check = %v, %v; want Inconclusive and boom", v.Outcome, err)
	}
	if _, err := g.Check(context.Background(), traffic.Check{}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Check(no candidate) = %v, want ErrInvalid", err)
	}
	if _, err := analysis.NewThreshold(nil); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("NewThreshold(nil) = %v, want ErrInvalid", err)
	}
	if _, err := analysis.NewThreshold(analysis.NewScript(nil, 0), analysis.WithFailureLimit(0)); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("NewThreshold(limit 0) = %v, want ErrInvalid", err)
	}
}

func repeat(n int, requests, errors int64) [][2]int64 {
	out := make([][2]int64, n)
	for i := range out {
		out[i] = [2]int64{requests, errors}
	}
	return out
}
