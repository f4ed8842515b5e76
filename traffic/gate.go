package traffic

import (
	"context"
	"time"
)

// Outcome is a gate's verdict.
type Outcome string

const (
	// Pass lets the rollout advance.
	Pass Outcome = "pass"
	// Fail rolls the rollout back.
	Fail Outcome = "fail"
	// Inconclusive means not enough data yet: the rollout keeps baking and
	// asks again, up to the step's maximum wait. It is never a failure by
	// itself.
	Inconclusive Outcome = "inconclusive"
)

// Done reports whether the outcome ends the waiting (Pass or Fail).
func (o Outcome) Done() bool { return o == Pass || o == Fail }

// Check is what a gate is asked to judge.
type Check struct {
	// Stable is the revision that served before the rollout (the baseline).
	Stable string
	// Candidate is the revision being rolled out.
	Candidate string
	// Step is the 1-based index of the plan step under way.
	Step int
	// Percent is the candidate's share during the step.
	Percent int
	// Next is the candidate's share once the step passes: the next step's
	// Percent, 100 for the last step before full traffic, 0 during the
	// watch at 100% and for a pre-traffic check. A gate may ask for more
	// evidence before the largest jump in exposure.
	Next int
	// Since is when the step's traffic took effect.
	Since time.Time
	// Now is the current time, from the rollout's clock.
	Now time.Time
	// Bake is the step's minimum duration: a Pass before Since+Bake does
	// not advance the rollout (a Fail does roll it back), so a gate may
	// answer Inconclusive until its data covers Since+Bake.
	Bake time.Duration
	// Started is when the rollout began. With Stable and Candidate it
	// identifies the rollout, so a gate that carries evidence across steps
	// can tell a new rollout of the same pair from the one it was judging.
	// Zero for a pre-traffic check.
	Started time.Time
}

// Verdict is a gate's judgement with the numbers behind it, which the audit
// trail records.
type Verdict struct {
	// Gate names the gate, for example "sequential" or "threshold".
	Gate string
	// Outcome is the verdict.
	Outcome Outcome
	// Reason explains the outcome in one line a person can read.
	Reason string
	// Numbers are the figures the verdict rests on (request and error
	// counts, rates, the test statistic), keyed by name.
	Numbers map[string]float64
}

// Gate judges whether a rollout step is healthy. The rollout asks it
// repeatedly during a step (every interval from the step's start), so a gate
// must be cheap to ask and may answer from evidence gathered across looks.
//
// Implementations must be safe for concurrent use and must not block beyond
// ctx. An error means the gate could not judge (for example, metrics were
// unreachable); the rollout treats it like Inconclusive and reports it.
//
// A gate that runs something for the rollout's duration (synthetic
// requests, a watcher) may also implement [Stopper]; the pipeline stops it
// when a promotion returns.
type Gate interface {
	Check(ctx context.Context, c Check) (Verdict, error)
}

// Stopper is an optional extension of [Gate] for gates that run something
// for the duration of a rollout, such as pipeline/prober's Gate, which
// sends synthetic requests: Stop ends it. pipeline.Pipeline.Promote calls
// Stop on every gate that implements Stopper when it returns, so nothing
// outlives the promotion. Stop must be safe to call more than once and
// concurrently with Check; a later Check may start the work again.
type Stopper interface {
	Stop()
}

// GateFunc adapts a function to the [Gate] interface.
type GateFunc func(ctx context.Context, c Check) (Verdict, error)

// Check calls f(ctx, c).
func (f GateFunc) Check(ctx context.Context, c Check) (Verdict, error) { return f(ctx, c) }
