package traffic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twostage/twostage"
)

// Errors a rollout ends with when it does not succeed. Both come wrapped in
// a [*RolloutError] that carries the step and the verdicts.
var (
	// ErrRolledBack: a gate failed and traffic went back to the stable
	// revision.
	ErrRolledBack = errors.New("rolled back")
	// ErrPaused: a step stayed inconclusive past its maximum wait; traffic
	// stays where it is until the rollout is run again or aborted.
	ErrPaused = errors.New("paused")
)

// RolloutError reports a rollout that stopped short of 100%.
type RolloutError struct {
	// Candidate is the revision that was being rolled out.
	Candidate string
	// Step is the 1-based plan step during which the rollout stopped.
	Step int
	// Percent is the candidate's share at that step.
	Percent int
	// Reason is the one-line explanation.
	Reason string
	// Verdicts are the gate verdicts that decided, if any.
	Verdicts []Verdict
	// Err is ErrRolledBack or ErrPaused.
	Err error

	// causes are the errors of the gates that could not judge at the last
	// look of a pause (metrics unreachable, say), kept in the chain so a
	// caller sees why the step stayed inconclusive.
	causes []error
}

// Error says which rollout stopped, how, where and why.
func (e *RolloutError) Error() string {
	return fmt.Sprintf("rollout of %s %v at step %d (%d%%): %s", e.Candidate, e.Err, e.Step, e.Percent, e.Reason)
}

// Unwrap returns ErrRolledBack or ErrPaused and, for a pause, the errors of
// the gates that could not judge at the last look.
func (e *RolloutError) Unwrap() []error { return append([]error{e.Err}, e.causes...) }

// EventKind names what happened in a rollout.
type EventKind string

const (
	// EventStep: a step's traffic was written.
	EventStep EventKind = "step"
	// EventGate: the gates were asked about a step.
	EventGate EventKind = "gate"
	// EventRollback: traffic went back to the stable revision.
	EventRollback EventKind = "rollback"
	// EventPause: the rollout paused.
	EventPause EventKind = "pause"
	// EventResume: a rollout recorded in the split was picked up again.
	EventResume EventKind = "resume"
	// EventWatched: the watch after the last step ended with no failure
	// (or a person promoted during it); the rollout succeeded.
	EventWatched EventKind = "watched"
)

// Event is one thing a rollout did, for progress display and audit.
type Event struct {
	Kind      EventKind
	Time      time.Time
	Candidate string
	Stable    string
	// Step is the 1-based plan step; Percent the candidate's share there.
	Step    int
	Percent int
	// Before and After are the splits around a write (EventStep,
	// EventRollback, EventPause); zero otherwise.
	Before, After Split
	// Verdicts are the gates' answers (EventGate, EventRollback).
	Verdicts []Verdict
	// Reason explains the event in one line.
	Reason string
	// Phase is the rollout's phase after an EventStep write (Progressing,
	// Watching or Succeeded); empty for other events.
	Phase Phase
}

// Result is where a rollout ended.
type Result struct {
	// State is the rollout's record as last written.
	State RolloutState
	// Split is the traffic as last written or read.
	Split Split
}

// Rollout moves traffic to a candidate revision step by step, asking gates
// between steps, and rolls back on failure. Its progress lives in
// Split.State, written together with each traffic change, so Run can be
// called again after a crash or an error and resumes where the service says
// it stands: no step is applied twice.
//
// A Rollout is safe for concurrent use, but two runs on one service race
// through the router's optimistic concurrency: the loser gets
// twostage.ErrConflict.
type Rollout struct {
	router   Router
	plan     Plan
	gates    []Gate
	clock    twostage.Clock
	log      *slog.Logger
	interval time.Duration
	watch    time.Duration
	observe  func(Event)
	service  string // the router's service name, if it is a Namer
}

// RolloutOption configures a [Rollout].
type RolloutOption func(*Rollout)

// WithPlan sets the plan. The default is [DefaultPlan].
func WithPlan(p Plan) RolloutOption { return func(r *Rollout) { r.plan = p } }

// WithGates sets the gates every step must pass (all of them). The default is
// none: a step passes when its bake time is over.
func WithGates(g ...Gate) RolloutOption {
	return func(r *Rollout) { r.gates = append([]Gate(nil), g...) }
}

// WithClock sets the clock for bake times and gate cadence. The default is
// twostage.SystemClock().
func WithClock(c twostage.Clock) RolloutOption { return func(r *Rollout) { r.clock = c } }

// WithLogger sets the logger for rollout events. The default discards.
func WithLogger(l *slog.Logger) RolloutOption { return func(r *Rollout) { r.log = l } }

// WithInterval sets how often the gates are asked during a step, from the
// moment its traffic takes effect (so a failing release is rolled back
// within about one interval). The default is 1 second: the interval the
// rollout simulation (examples/rolloutsim) measures the default strategy with.
func WithInterval(d time.Duration) RolloutOption { return func(r *Rollout) { r.interval = d } }

// WithWatch sets how long the gates keep being asked after the last step
// (100%) before the rollout succeeds: the post-promotion watch. During it
// the rollout is [Watching]; the candidate serves 100% and is tagged
// "stable", the previous stable revision "prior"; a gate's Fail sends 100%
// back to the previous stable revision in one write (ErrRolledBack, as in
// any step), Pass and Inconclusive keep watching until the period ends.
// Run returns only then, and a resumed Run continues the watch where the
// recorded 100% step began. Gates that compare the candidate with the live
// stable revision have nothing to compare against at 100%; the
// analysis.Sequential gate compares it with the stable's error rate
// measured before 100% (see its historical test). Without gates there is
// nothing to watch, and the rollout succeeds at 100% at once.
//
// The default is 0 (no watch: Run returns as soon as the candidate serves
// 100%), because a watch makes Run block for d longer (a deploy job in CI
// lasts that much longer) and because a historical baseline assumes the
// error rate is stationary. The rollout simulation (examples/rolloutsim)
// measures 30 minutes: at 200 req/s it rolls back nearly every 2×
// regression that escaped the 5% and 25% steps, which otherwise served
// until someone noticed.
func WithWatch(d time.Duration) RolloutOption { return func(r *Rollout) { r.watch = d } }

// WithObserver sets a function called, synchronously, with every event. The
// default is none.
func WithObserver(f func(Event)) RolloutOption { return func(r *Rollout) { r.observe = f } }

// NewRollout returns a rollout over router. It fails with
// twostage.ErrInvalid if the plan is not valid (see [Plan.Validate]).
func NewRollout(router Router, opts ...RolloutOption) (*Rollout, error) {
	r := &Rollout{
		router:   router,
		plan:     DefaultPlan(),
		clock:    twostage.SystemClock(),
		log:      slog.New(slog.DiscardHandler),
		interval: time.Second,
	}
	for _, o := range opts {
		o(r)
	}
	if router == nil {
		return nil, invalidf("rollout needs a router")
	}
	if n, ok := router.(Namer); ok {
		r.service = n.Name()
	}
	if r.interval <= 0 {
		return nil, invalidf("gate interval %v must be positive", r.interval)
	}
	if r.watch < 0 {
		return nil, invalidf("watch %v is negative; use 0 for no watch after the last step", r.watch)
	}
	if err := r.plan.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Rollout) percents() []int {
	p := make([]int, len(r.plan.Steps))
	for i, s := range r.plan.Steps {
		p[i] = s.Percent
	}
	return p
}

// Run rolls candidate out per the plan, or resumes the rollout recorded in
// the service's split. An empty candidate means the rollout under way, or
// else the revision tagged [TagCandidate]. It returns when the candidate serves 100% (nil
// error; with [WithWatch], when the watch after that ends with no failure), when a gate fails (traffic back on the stable revision, an error
// wrapping [ErrRolledBack]), when a step stays inconclusive too long (an
// error wrapping [ErrPaused]) or on any other error, after which traffic is
// as the last successful write left it and Run may be called again.
//
// A fresh rollout needs one revision serving 100% (the stable one; a LATEST
// target is pinned to the latest ready revision). Running again a rollout
// that succeeded returns its result and writes nothing; one that was rolled
// back or aborted is refused with twostage.ErrPolicy: release anew.
func (r *Rollout) Run(ctx context.Context, candidate string) (Result, error) {
	st, sp, err := r.read(ctx)
	if err != nil {
		return Result{Split: sp}, err
	}
	if candidate == "" {
		if candidate = st.Candidate; st.Phase.Done() || candidate == "" {
			var ok bool
			if candidate, ok = TagOf(sp, TagCandidate); !ok {
				// A release on a service whose name leaves no room for the
				// tag: the newest ready revision, if it serves nothing, is
				// the one released with no traffic.
				if candidate = sp.LatestRevision; candidate == "" || Shares(sp)[candidate] > 0 {
					if st.Phase == Succeeded {
						// Nothing released since the last rollout, which
						// succeeded (a Promote run again, or re-run after
						// a crash right after its last write).
						return Result{State: st, Split: sp}, nil
					}
					return Result{State: st, Split: sp}, invalidf("no candidate: name the revision to roll out, or tag it %q (a release does)", TagCandidate)
				}
			}
		}
	}
	switch {
	case st.Candidate == candidate && st.Phase == Succeeded:
		return Result{State: st, Split: sp}, nil
	case st.Candidate == candidate && st.Phase.Done():
		return Result{State: st, Split: sp}, fmt.Errorf("rollout of %s ended %s (%s); it is not restarted, release a new revision: %w", candidate, st.Phase, st.Reason, twostage.ErrPolicy)
	case st.Candidate != "" && st.Candidate != candidate && !st.Phase.Done():
		return Result{State: st, Split: sp}, fmt.Errorf("a rollout of %s is %s; finish or abort it before rolling out %s: %w", st.Candidate, st.Phase, candidate, twostage.ErrConflict)
	case st.Candidate == candidate:
		if err := r.checkResume(st, sp); err != nil {
			return Result{State: st, Split: sp}, err
		}
		r.emit(Event{Kind: EventResume, Candidate: candidate, Stable: st.Stable, Step: st.Step, Percent: r.stepPercent(st.Step), Reason: fmt.Sprintf("resuming %s rollout at step %d", st.Phase, st.Step)})
	default:
		if st, sp, err = r.start(candidate, sp); err != nil {
			return Result{State: st, Split: sp}, err
		}
	}

	for {
		if st.Step > 0 {
			if st.Phase == Succeeded {
				return Result{State: st, Split: sp}, nil
			}
			if st.Phase == Watching {
				return r.watchLast(ctx, st, sp)
			}
			verdicts, outcome, gateErrs, err := r.judge(ctx, st)
			if err != nil {
				return Result{State: st, Split: sp}, err
			}
			switch outcome {
			case Fail:
				return r.rollBack(ctx, st, sp, verdicts)
			case Inconclusive:
				return r.pause(ctx, st, sp, verdicts, gateErrs)
			}
		}
		if st, sp, err = r.advance(ctx, st, sp, true); err != nil {
			return Result{State: st, Split: sp}, err
		}
	}
}

// read returns the split and the rollout state recorded in it.
func (r *Rollout) read(ctx context.Context) (RolloutState, Split, error) {
	sp, err := r.router.Split(ctx)
	if err != nil {
		return RolloutState{}, Split{}, fmt.Errorf("reading traffic: %w", err)
	}
	st, err := DecodeState(sp.State)
	return st, sp, err
}

// start checks the preconditions of a fresh rollout.
func (r *Rollout) start(candidate string, sp Split) (RolloutState, Split, error) {
	pinned, err := Pin(sp, sp.LatestRevision)
	if err != nil {
		return RolloutState{}, sp, err
	}
	stable := ""
	for rev, p := range Shares(pinned) {
		if p == 100 {
			stable = rev
		}
	}
	switch {
	case stable == "":
		return RolloutState{}, sp, invalidf("traffic is split (%s); a rollout starts from one revision serving 100%%", sp)
	case stable == candidate:
		return RolloutState{}, sp, invalidf("candidate %s already serves 100%%; nothing to roll out", candidate)
	}
	return RolloutState{Candidate: candidate, Stable: stable, Phase: Progressing, Percents: r.percents(), Started: r.clock.Now()}, pinned, nil
}

// checkResume refuses to resume a rollout whose plan or traffic changed
// under it.
func (r *Rollout) checkResume(st RolloutState, sp Split) error {
	if fmt.Sprint(st.Percents) != fmt.Sprint(r.percents()) {
		return fmt.Errorf("rollout of %s was started with plan %v, now asked with %v; use the same plan or abort: %w", st.Candidate, st.Percents, r.percents(), twostage.ErrConflict)
	}
	if st.Step == 0 {
		return nil
	}
	want := st.Percents[st.Step-1]
	if got := Shares(sp)[st.Candidate]; got != want {
		return fmt.Errorf("rollout of %s is at step %d (%d%%) but the candidate serves %d%%: traffic was changed outside the rollout; abort it: %w", st.Candidate, st.Step, want, got, twostage.ErrConflict)
	}
	return nil
}

func (r *Rollout) stepPercent(step int) int {
	if step < 1 || step > len(r.plan.Steps) {
		return 0
	}
	return r.plan.Steps[step-1].Percent
}

// watching reports whether a rollout reaching 100% watches it (see
// [WithWatch]).
func (r *Rollout) watching() bool { return r.watch > 0 && len(r.gates) > 0 }

// advance writes the next step's traffic and state in one write. At 100%
// the rollout is Watching if watch and r.watching(), else Succeeded.
func (r *Rollout) advance(ctx context.Context, st RolloutState, sp Split, watch bool) (RolloutState, Split, error) {
	next := st
	next.Step++
	next.Phase, next.Reason = Progressing, ""
	p := r.stepPercent(next.Step)
	shares := map[string]int{st.Candidate: p}
	if p < 100 {
		shares[st.Stable] = 100 - p
	}
	want, err := Route(sp, shares)
	if err == nil {
		if p < 100 {
			want, err = r.setTags(want, TagCandidate, st.Candidate, TagStable, st.Stable)
		} else {
			want, err = r.setTags(want, TagStable, st.Candidate, TagPrior, st.Stable)
			want = RemoveTag(want, TagCandidate)
			next.Phase = Succeeded
			next.Reason = "all steps passed"
			if watch && r.watching() {
				next.Phase = Watching
				next.Reason = fmt.Sprintf("all steps passed; watching for %v", r.watch)
			}
		}
	}
	if err != nil {
		return st, sp, fmt.Errorf("computing step %d of the rollout of %s: %w", next.Step, st.Candidate, err)
	}
	next.StepStarted = r.clock.Now()
	want.State = next.Encode()
	got, err := r.router.SetSplit(ctx, want)
	if err != nil {
		return st, sp, fmt.Errorf("writing step %d (%d%%) of the rollout of %s: %w", next.Step, p, st.Candidate, err)
	}
	reason := fmt.Sprintf("%s now serves %d%%", st.Candidate, p)
	if next.Phase == Watching {
		reason += fmt.Sprintf("; watching for %v", r.watch)
	}
	r.emit(Event{Kind: EventStep, Candidate: st.Candidate, Stable: st.Stable, Step: next.Step, Percent: p, Before: sp, After: got, Reason: reason, Phase: next.Phase})
	return next, got, nil
}

// watchLast asks the gates about the last step (100%) every interval from
// the moment its traffic took effect until the watch (measured from that
// moment, so a resumed run continues it) is over: a Fail rolls back to the
// previous stable revision in one write; otherwise, at the end, the
// rollout succeeds. A gate event is emitted when the outcome changes and
// for the deciding answer.
func (r *Rollout) watchLast(ctx context.Context, st RolloutState, sp Split) (Result, error) {
	end := st.StepStarted.Add(r.watch)
	var last Outcome
	for {
		now := r.clock.Now()
		verdicts, outcome, _ := r.ask(ctx, Check{Stable: st.Stable, Candidate: st.Candidate, Step: st.Step, Percent: 100, Since: st.StepStarted, Now: now, Bake: r.watch, Started: st.Started})
		over := !now.Before(end)
		if outcome != last || outcome == Fail || over {
			r.emit(Event{Kind: EventGate, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: 100, Verdicts: verdicts, Reason: string(outcome)})
			last = outcome
		}
		switch {
		case outcome == Fail:
			return r.rollBack(ctx, st, sp, verdicts)
		case over:
			return r.endWatch(ctx, st, sp, fmt.Sprintf("all steps passed and no gate failed in the %v watch", r.watch))
		}
		if err := r.clock.Sleep(ctx, min(r.interval, end.Sub(now))); err != nil {
			return Result{State: st, Split: sp}, fmt.Errorf("watching the rollout of %s at 100%%: %w", st.Candidate, err)
		}
	}
}

// endWatch records the end of the watch: the rollout succeeded. Traffic
// and tags are already those of a success; only the state changes.
func (r *Rollout) endWatch(ctx context.Context, st RolloutState, sp Split, reason string) (Result, error) {
	next := st
	next.Phase, next.Reason = Succeeded, reason
	want := sp.Clone()
	want.State = next.Encode()
	got, err := r.router.SetSplit(ctx, want)
	if err != nil {
		return Result{State: st, Split: sp}, fmt.Errorf("recording the end of the watch of %s: %w", st.Candidate, err)
	}
	r.emit(Event{Kind: EventWatched, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: 100, Before: sp, After: got, Reason: reason})
	return Result{State: next, Split: got}, nil
}

// judge asks the gates about the current step every interval from the
// moment its traffic took effect: a Fail rolls back at once, even during the
// bake (a bad release must not serve for the whole bake); a Pass counts only
// once the bake is over; Inconclusive keeps asking up to the step's maximum
// wait after the bake. A gate event is emitted when the outcome changes and
// for the deciding answer, not for every look.
func (r *Rollout) judge(ctx context.Context, st RolloutState) ([]Verdict, Outcome, []error, error) {
	step := r.plan.Steps[st.Step-1]
	next := 0
	if st.Step < len(r.plan.Steps) {
		next = r.plan.Steps[st.Step].Percent
	}
	bakeEnd := st.StepStarted.Add(step.Bake)
	if len(r.gates) == 0 {
		if err := r.sleepUntil(ctx, bakeEnd); err != nil {
			return nil, "", nil, fmt.Errorf("baking step %d of the rollout of %s: %w", st.Step, st.Candidate, err)
		}
		r.emit(Event{Kind: EventGate, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: step.Percent, Reason: string(Pass)})
		return nil, Pass, nil, nil
	}
	var last Outcome
	for {
		now := r.clock.Now()
		verdicts, outcome, gateErrs := r.ask(ctx, Check{Stable: st.Stable, Candidate: st.Candidate, Step: st.Step, Percent: step.Percent, Next: next, Since: st.StepStarted, Now: now, Bake: step.Bake, Started: st.Started})
		baked := !now.Before(bakeEnd)
		decided := outcome == Fail || outcome == Pass && baked
		expired := !decided && baked && step.MaxWait > 0 && !now.Before(bakeEnd.Add(step.MaxWait))
		if outcome != last || decided || expired {
			r.emit(Event{Kind: EventGate, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: step.Percent, Verdicts: verdicts, Reason: string(outcome)})
			last = outcome
		}
		switch {
		case decided:
			return verdicts, outcome, nil, nil
		case expired:
			return verdicts, Inconclusive, gateErrs, nil
		}
		wait := r.interval
		if !baked {
			wait = min(wait, bakeEnd.Sub(now))
		}
		if err := r.clock.Sleep(ctx, wait); err != nil {
			return verdicts, "", nil, fmt.Errorf("waiting for the gates at step %d of the rollout of %s: %w", st.Step, st.Candidate, err)
		}
	}
}

// sleepUntil sleeps on the clock until t; a t already passed only checks ctx.
func (r *Rollout) sleepUntil(ctx context.Context, t time.Time) error {
	if d := t.Sub(r.clock.Now()); d > 0 {
		return r.clock.Sleep(ctx, d)
	}
	return ctx.Err()
}

// ask consults every gate. Any Fail fails; all Pass passes; otherwise
// (including a gate error) the outcome is Inconclusive. It also returns the
// gates' errors.
func (r *Rollout) ask(ctx context.Context, c Check) ([]Verdict, Outcome, []error) {
	verdicts := make([]Verdict, 0, len(r.gates))
	outcome := Pass
	var errs []error
	for i, g := range r.gates {
		v, err := g.Check(ctx, c)
		if err != nil {
			v = Verdict{Gate: v.Gate, Outcome: Inconclusive, Reason: "gate error: " + err.Error()}
			errs = append(errs, err)
		}
		if v.Gate == "" {
			v.Gate = fmt.Sprintf("gate%d", i+1)
		}
		switch {
		case v.Outcome == Fail:
			outcome = Fail
		case v.Outcome != Pass && outcome != Fail:
			outcome = Inconclusive
		}
		verdicts = append(verdicts, v)
	}
	return verdicts, outcome, errs
}

func (r *Rollout) rollBack(ctx context.Context, st RolloutState, sp Split, verdicts []Verdict) (Result, error) {
	reason := failReason(verdicts)
	next, got, err := r.toStable(ctx, st, sp, RolledBack, reason)
	if err != nil {
		return Result{State: st, Split: sp}, err
	}
	r.emit(Event{Kind: EventRollback, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: r.stepPercent(st.Step), Before: sp, After: got, Verdicts: verdicts, Reason: reason})
	return Result{State: next, Split: got}, &RolloutError{Candidate: st.Candidate, Step: st.Step, Percent: r.stepPercent(st.Step), Reason: reason, Verdicts: verdicts, Err: ErrRolledBack}
}

func (r *Rollout) pause(ctx context.Context, st RolloutState, sp Split, verdicts []Verdict, gateErrs []error) (Result, error) {
	next := st
	next.Phase = Paused
	next.Reason = fmt.Sprintf("step %d stayed inconclusive past its maximum wait", st.Step)
	want := sp.Clone()
	want.State = next.Encode()
	got, err := r.router.SetSplit(ctx, want)
	if err != nil {
		return Result{State: st, Split: sp}, fmt.Errorf("recording the pause of the rollout of %s: %w", st.Candidate, err)
	}
	r.emit(Event{Kind: EventPause, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: r.stepPercent(st.Step), Before: sp, After: got, Verdicts: verdicts, Reason: next.Reason})
	return Result{State: next, Split: got}, &RolloutError{Candidate: st.Candidate, Step: st.Step, Percent: r.stepPercent(st.Step), Reason: next.Reason, Verdicts: verdicts, Err: ErrPaused, causes: gateErrs}
}

// Abort sends 100% of traffic back to the rollout's stable revision in one
// write: during a rollout it aborts it (phase [Aborted]); after a success it
// rolls back to the previous stable revision (phase [RolledBack]: the
// release was done, and is undone); after a rollback or an abort that left the stable
// revision serving 100% it writes nothing. reason is recorded. It fails with
// twostage.ErrInvalid when the split records no rollout.
func (r *Rollout) Abort(ctx context.Context, reason string) (Result, error) {
	st, sp, err := r.read(ctx)
	if err != nil {
		return Result{Split: sp}, err
	}
	if st.Candidate == "" {
		return Result{Split: sp}, invalidf("no rollout is recorded on this service, so there is no previous stable revision to go back to")
	}
	if (st.Phase == RolledBack || st.Phase == Aborted) && Shares(sp)[st.Stable] == 100 {
		// Already back on the stable revision: nothing to write, and the
		// recorded reason stays.
		return Result{State: st, Split: sp}, nil
	}
	if reason == "" {
		reason = "aborted"
	}
	phase := Aborted
	if st.Phase == Succeeded || st.Phase == RolledBack {
		phase = RolledBack
	}
	next, got, err := r.toStable(ctx, st, sp, phase, reason)
	if err != nil {
		return Result{State: st, Split: sp}, err
	}
	r.emit(Event{Kind: EventRollback, Candidate: st.Candidate, Stable: st.Stable, Step: st.Step, Percent: r.stepPercent(st.Step), Before: sp, After: got, Reason: reason})
	return Result{State: next, Split: got}, nil
}

// Advance moves the rollout under way past its current step without asking
// the gates: to the next step, or with full straight to 100%. It is the
// manual "promote" of a person who has seen enough (a paused rollout
// becomes Progressing again). Run continues automatically from there. A
// step reaching 100% starts the watch ([WithWatch]) unless full; during
// the watch, Advance ends it: the rollout succeeds. It fails with
// twostage.ErrInvalid when no rollout is under way.
func (r *Rollout) Advance(ctx context.Context, full bool) (Result, error) {
	st, sp, err := r.read(ctx)
	if err != nil {
		return Result{Split: sp}, err
	}
	if st.Candidate == "" || st.Phase.Done() {
		return Result{State: st, Split: sp}, invalidf("no rollout is under way to advance (last: %q %s); start one with Run", st.Candidate, st.Phase)
	}
	if err := r.checkResume(st, sp); err != nil {
		return Result{State: st, Split: sp}, err
	}
	if st.Phase == Watching {
		return r.endWatch(ctx, st, sp, "promoted during the watch")
	}
	if full {
		st.Step = len(r.plan.Steps) - 1
	}
	next, got, err := r.advance(ctx, st, sp, !full)
	return Result{State: next, Split: got}, err
}

// toStable writes 100% to st.Stable, moves the stable tag back to it,
// points the service's template back at it (Split.Template) and records
// phase, in one write.
func (r *Rollout) toStable(ctx context.Context, st RolloutState, sp Split, phase Phase, reason string) (RolloutState, Split, error) {
	want, err := Route(sp, map[string]int{st.Stable: 100})
	if err == nil {
		want, err = r.setTags(want, TagStable, st.Stable, TagCandidate, st.Candidate)
		want = RemoveTag(want, TagPrior)
	}
	if err != nil {
		return st, sp, fmt.Errorf("computing the rollback of %s to %s: %w", st.Candidate, st.Stable, err)
	}
	next := st
	next.Phase = phase
	next.Reason = reason
	want.State = next.Encode()
	// The template goes back to the stable revision too, in the same
	// write, so that it no longer runs the rolled-back image.
	want.Template = st.Stable
	got, err := r.router.SetSplit(ctx, want)
	if err != nil {
		return st, sp, fmt.Errorf("rolling %s back to %s: %w", st.Candidate, st.Stable, err)
	}
	return next, got, nil
}

func (r *Rollout) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = r.clock.Now()
	}
	r.log.Info("rollout "+string(e.Kind), "candidate", e.Candidate, "stable", e.Stable, "step", e.Step, "percent", e.Percent, "reason", e.Reason)
	if r.observe != nil {
		r.observe(e)
	}
}

// setTags applies SetTag for each (tag, revision) pair in kv, skipping tags
// that do not fit beside the service name (see [TagFits]).
func (r *Rollout) setTags(s Split, kv ...string) (Split, error) {
	var err error
	for i := 0; i+1 < len(kv) && err == nil; i += 2 {
		if TagFits(r.service, kv[i]) {
			s, err = SetTag(s, kv[i], kv[i+1])
		}
	}
	return s, err
}

func failReason(vs []Verdict) string {
	for _, v := range vs {
		if v.Outcome == Fail {
			return fmt.Sprintf("gate %s failed: %s", v.Gate, v.Reason)
		}
	}
	return "a gate failed"
}
