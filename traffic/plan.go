package traffic

import (
	"fmt"
	"time"
)

// MaxFirstStep is the largest share the first step of a rollout may route to
// a new revision (rule 4 of the design: a bad release reaches few users).
const MaxFirstStep = 5

// Step is one stage of a progressive rollout.
type Step struct {
	// Percent is the candidate's share of traffic during the step, 1..100.
	Percent int
	// Bake is the minimum time the step runs before its gates may pass it.
	// Zero means the gates are asked at once.
	Bake time.Duration
	// MaxWait bounds how long the step may stay Inconclusive after Bake
	// before the rollout pauses: the phase becomes [Paused] and Run
	// returns an error wrapping [ErrPaused]; traffic stays where it is (the
	// candidate keeps the step's share) until Run is called again, a person
	// advances (Advance) or rolls back (Abort). It never rolls back by
	// itself: only a Fail does. Zero means no bound beyond the caller's
	// context.
	MaxWait time.Duration
}

// Plan is a progressive rollout: the candidate's share rises step by step,
// each step gated, the last reaching 100%.
type Plan struct {
	Steps []Step
}

// DefaultPlan returns 5% → 25% → 100%, with a 5-minute bake at 5% and 25%
// and no bake at 100%.
func DefaultPlan() Plan {
	return Plan{Steps: []Step{
		{Percent: 5, Bake: 5 * time.Minute, MaxWait: 30 * time.Minute},
		{Percent: 25, Bake: 5 * time.Minute, MaxWait: 30 * time.Minute},
		{Percent: 100},
	}}
}

// Validate reports whether p is a safe plan: at least one step, the first at
// most [MaxFirstStep]%, percents strictly rising and each in 1..100, the last
// exactly 100, no negative durations. Errors wrap twostage.ErrInvalid and
// name the step (1-based) and the fix.
func (p Plan) Validate() error {
	if len(p.Steps) == 0 {
		return invalidf("plan has no steps; use for example 5%%, 25%%, 100%% (traffic.DefaultPlan)")
	}
	prev := 0
	for i, s := range p.Steps {
		n := i + 1
		switch {
		case s.Percent < 1 || s.Percent > 100:
			return invalidf("step %d: percent %d is not in 1..100", n, s.Percent)
		case n == 1 && s.Percent > MaxFirstStep:
			return invalidf("step 1: percent %d is above %d; the first step must route at most %d%% so a bad release reaches few users (for example %s)", s.Percent, MaxFirstStep, MaxFirstStep, planString(DefaultPlan()))
		case s.Percent <= prev:
			return invalidf("step %d: percent %d does not rise above step %d's %d; steps must rise strictly", n, s.Percent, n-1, prev)
		case s.Bake < 0 || s.MaxWait < 0:
			return invalidf("step %d: negative bake %v or max wait %v", n, s.Bake, s.MaxWait)
		}
		prev = s.Percent
	}
	if prev != 100 {
		return invalidf("last step routes %d%%, want 100; add a final step of 100", prev)
	}
	return nil
}

// String renders the plan as "5% → 25% → 100%".
func (p Plan) String() string { return planString(p) }

func planString(p Plan) string {
	s := ""
	for i, st := range p.Steps {
		if i > 0 {
			s += " → "
		}
		s += fmt.Sprintf("%d%%", st.Percent)
	}
	return s
}
