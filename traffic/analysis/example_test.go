package analysis_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// A candidate at 5% of the traffic that fails 2% of its requests, against a
// stable that fails 0.1%: the sequential gate, asked every 10 seconds, rolls
// it back as soon as the evidence (the e-value) reaches its threshold.
func ExampleSequential() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := fake.NewClock(start)
	metrics := analysis.NewScript(clk, 0)
	gate, err := analysis.NewSequential(metrics)
	if err != nil {
		panic(err)
	}
	for tick := 1; ; tick++ {
		// 10 seconds of traffic: 100 requests to the candidate with 2 errors,
		// 1900 to the stable with 2 errors.
		metrics.Record("svc-v2", clk.Now(), analysis.Count{Requests: 100, Errors: 2})
		metrics.Record("svc-v1", clk.Now(), analysis.Count{Requests: 1900, Errors: 2})
		clk.Advance(10 * time.Second)
		v, err := gate.Check(context.Background(), traffic.Check{
			Stable: "svc-v1", Candidate: "svc-v2", Step: 1, Percent: 5, Since: start, Now: clk.Now(),
		})
		if err != nil {
			panic(err)
		}
		if v.Outcome.Done() {
			fmt.Printf("after %v: %s\n", clk.Now().Sub(start), v.Outcome)
			fmt.Printf("candidate %v/%v errors, stable %v/%v\n",
				v.Numbers["candidate_errors"], v.Numbers["candidate_requests"], v.Numbers["stable_errors"], v.Numbers["stable_requests"])
			fmt.Printf("e-value %.3g ≥ %.3g\n", v.Numbers["e_value"], v.Numbers["threshold"])
			return
		}
	}
	// Output:
	// after 20s: fail
	// candidate 4/200 errors, stable 4/3800
	// e-value 310 ≥ 33.3
}

// A healthy candidate passes once the metrics cover the step and it has
// served enough requests; before that the verdict is Inconclusive.
func ExampleSequential_pass() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := fake.NewClock(start)
	metrics := analysis.NewScript(clk, time.Minute) // data arrives a minute late
	gate, err := analysis.NewSequential(metrics, analysis.WithMinDuration(5*time.Minute))
	if err != nil {
		panic(err)
	}
	for minute := 1; minute <= 7; minute++ {
		metrics.Record("svc-v2", clk.Now(), analysis.Count{Requests: 600, Errors: 1})
		metrics.Record("svc-v1", clk.Now(), analysis.Count{Requests: 11400, Errors: 12})
		clk.Advance(time.Minute)
		v, err := gate.Check(context.Background(), traffic.Check{
			Stable: "svc-v1", Candidate: "svc-v2", Step: 1, Percent: 5, Since: start, Now: clk.Now(),
		})
		if err != nil {
			panic(err)
		}
		fmt.Printf("%dm: %s: %s\n", minute, v.Outcome, v.Reason)
	}
	// Output:
	// 1m: inconclusive: metrics cover 0s of the step, want 5m0s
	// 2m: inconclusive: metrics cover 1m0s of the step, want 5m0s
	// 3m: inconclusive: metrics cover 2m0s of the step, want 5m0s
	// 4m: inconclusive: metrics cover 3m0s of the step, want 5m0s
	// 5m: inconclusive: metrics cover 4m0s of the step, want 5m0s
	// 6m: pass: no regression: e-value 0.248 < 33.3 over 3000 candidate requests
	// 7m: pass: no regression: e-value 0.254 < 33.3 over 3600 candidate requests
}
