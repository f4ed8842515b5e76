package traffic_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// newProd returns a fake service serving "api-stable" at 100% with
// "api-cand" deployed at 0%, like after a release.
func newProd(t *testing.T, clock *fake.Clock, opts ...fake.ServiceOption) *fake.Service {
	t.Helper()
	svc := fake.NewService("api", append([]fake.ServiceOption{fake.WithClock(clock)}, opts...)...)
	ctx := context.Background()
	for i, rel := range []stage.Release{
		{Revision: "stable", Traffic: stage.RouteAll},
		{Revision: "cand", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}},
	} {
		rel.Artifact = registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
		if _, err := svc.Deploy(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}

func gate(outcomes ...traffic.Outcome) (traffic.Gate, *int) {
	calls := new(int)
	return traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		o := outcomes[min(*calls, len(outcomes)-1)]
		*calls++
		return traffic.Verdict{Gate: "g", Outcome: o, Reason: string(o)}, nil
	}), calls
}

func candidateShare(t *testing.T, r traffic.Router) int {
	t.Helper()
	sp, err := r.Split(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return traffic.Shares(sp)["api-cand"]
}

func TestRolloutSucceedsWithBakes(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	var events []traffic.Event
	ro, err := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithObserver(func(e traffic.Event) { events = append(events, e) }))
	if err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	res, err := ro.Run(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Phase != traffic.Succeeded || candidateShare(t, svc) != 100 {
		t.Errorf("phase %s, candidate share %d; want Succeeded at 100", res.State.Phase, candidateShare(t, svc))
	}
	if got := clock.Now().Sub(start); got != 10*time.Minute {
		t.Errorf("rollout took %v on the clock, want the two 5m bakes", got)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, string(e.Kind))
	}
	if diff := cmp.Diff([]string{"step", "gate", "step", "gate", "step"}, kinds); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestRolloutInconclusiveThenPass(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	g, calls := gate(traffic.Inconclusive, traffic.Inconclusive, traffic.Pass)
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Hour}, {Percent: 100}}}
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g), traffic.WithInterval(time.Minute))
	if _, err := ro.Run(context.Background(), "api-cand"); err != nil {
		t.Fatal(err)
	}
	if *calls != 3 {
		t.Errorf("gate asked %d times, want 3", *calls)
	}
	if diff := cmp.Diff([]time.Duration{time.Minute, time.Minute}, clock.Sleeps()); diff != "" {
		t.Errorf("sleeps (-want +got):\n%s", diff)
	}
}

func TestRolloutPausesAfterMaxWait(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	g, _ := gate(traffic.Inconclusive)
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: time.Minute, MaxWait: 10 * time.Minute}, {Percent: 100}}}
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g), traffic.WithInterval(time.Minute))
	res, err := ro.Run(context.Background(), "api-cand")
	if !errors.Is(err, traffic.ErrPaused) {
		t.Fatalf("err = %v, want ErrPaused", err)
	}
	if res.State.Phase != traffic.Paused || candidateShare(t, svc) != 5 {
		t.Errorf("phase %s share %d, want Paused at 5%%", res.State.Phase, candidateShare(t, svc))
	}
	// Low traffic is never a failure: nothing rolled back.
	st, _ := traffic.DecodeState(svc.Snapshot().Split.State)
	if st.Phase != traffic.Paused {
		t.Errorf("stored phase %s, want Paused", st.Phase)
	}
	// Running again resumes the paused step; now the gate passes.
	ro2, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Outcome: traffic.Pass}, nil
	})))
	if res, err := ro2.Run(context.Background(), ""); err != nil || res.State.Phase != traffic.Succeeded {
		t.Errorf("resume after pause: %v, %v", res.State.Phase, err)
	}
}

func TestRolloutGateErrorIsInconclusive(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	n := 0
	g := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		if n++; n == 1 {
			return traffic.Verdict{}, errors.New("metrics unreachable")
		}
		return traffic.Verdict{Outcome: traffic.Pass}, nil
	})
	var verdicts []traffic.Verdict
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithGates(g), traffic.WithObserver(func(e traffic.Event) {
		verdicts = append(verdicts, e.Verdicts...)
	}))
	if _, err := ro.Run(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if len(verdicts) == 0 || verdicts[0].Outcome != traffic.Inconclusive || !strings.Contains(verdicts[0].Reason, "metrics unreachable") {
		t.Errorf("first verdict %+v, want Inconclusive carrying the gate error", verdicts)
	}
}

// TestRolloutPauseKeepsGateErrors: a step that stays inconclusive because a
// gate cannot read its metrics pauses with that gate's error in the chain,
// so the caller sees why.
func TestRolloutPauseKeepsGateErrors(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	unreachable := errors.New("metrics unreachable")
	g := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{}, unreachable
	})
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 100}}}
	ro, err := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithGates(g), traffic.WithPlan(plan))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ro.Run(t.Context(), "")
	if !errors.Is(err, traffic.ErrPaused) || !errors.Is(err, unreachable) {
		t.Errorf("Run = %v, want ErrPaused keeping the gate's error", err)
	}
}

func TestRolloutRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})

	t.Run("other rollout in progress", func(t *testing.T) {
		svc := newProd(t, clock)
		g, _ := gate(traffic.Inconclusive)
		plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 100}}}
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g))
		ro.Run(ctx, "api-cand") // pauses at 5%
		_, err := ro.Run(ctx, "api-stable")
		if !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), "api-cand") {
			t.Errorf("err = %v, want ErrConflict naming the rollout under way", err)
		}
	})
	t.Run("plan changed", func(t *testing.T) {
		svc := newProd(t, clock)
		g, _ := gate(traffic.Inconclusive)
		plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 100}}}
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g))
		ro.Run(ctx, "api-cand")
		ro2, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
		if _, err := ro2.Run(ctx, "api-cand"); !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), "plan") {
			t.Errorf("err = %v, want ErrConflict about the plan", err)
		}
	})
	t.Run("traffic changed outside", func(t *testing.T) {
		svc := newProd(t, clock)
		g, _ := gate(traffic.Inconclusive)
		plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 100}}}
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g))
		ro.Run(ctx, "api-cand")
		sp, _ := svc.Split(ctx)
		sp, _ = traffic.Route(sp, map[string]int{"api-stable": 50, "api-cand": 50})
		if _, err := svc.SetSplit(ctx, sp); err != nil {
			t.Fatal(err)
		}
		if _, err := ro.Run(ctx, "api-cand"); !errors.Is(err, twostage.ErrConflict) || !strings.Contains(err.Error(), "outside the rollout") {
			t.Errorf("err = %v, want ErrConflict about traffic changed outside", err)
		}
	})
	t.Run("split traffic has no single stable", func(t *testing.T) {
		svc := newProd(t, clock)
		sp, _ := svc.Split(ctx)
		sp, _ = traffic.Route(sp, map[string]int{"api-stable": 50, "api-cand": 50})
		svc.SetSplit(ctx, sp)
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
		if _, err := ro.Run(ctx, "api-cand"); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("no candidate", func(t *testing.T) {
		svc := fake.NewService("solo", fake.WithClock(clock))
		svc.Deploy(ctx, stage.Release{Artifact: registry.Artifact{Repository: "registry.example.com/a", Digest: "sha256:" + strings.Repeat("f", 64)}, Revision: "one", Traffic: stage.RouteAll})
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
		if _, err := ro.Run(ctx, ""); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid (nothing to roll out)", err)
		}
		if _, err := ro.Abort(ctx, ""); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Abort: err = %v, want ErrInvalid (no rollout recorded)", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		if _, err := traffic.NewRollout(newProd(t, clock), traffic.WithInterval(0)); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("interval 0: err = %v", err)
		}
		if _, err := traffic.NewRollout(nil); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("nil router: err = %v", err)
		}
	})
}

func TestRolloutContextCancelledDuringBake(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	ctx, cancel := context.WithCancel(context.Background())
	clock.OnSleep(func(time.Time) { cancel() })
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
	_, err := ro.Run(ctx, "")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The applied step is recorded: a later run resumes at step 1.
	st, _ := traffic.DecodeState(svc.Snapshot().Split.State)
	if st.Step != 1 || st.Phase != traffic.Progressing || candidateShare(t, svc) != 5 {
		t.Errorf("state %+v share %d, want step 1 progressing at 5%%", st, candidateShare(t, svc))
	}
	ro2, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
	if res, err := ro2.Run(context.Background(), ""); err != nil || res.State.Phase != traffic.Succeeded {
		t.Errorf("resume: %v %v", res.State.Phase, err)
	}
}

func TestAbortDuringRollout(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	g, _ := gate(traffic.Inconclusive)
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5}, {Percent: 25, MaxWait: time.Minute}, {Percent: 100}}}
	passFirst := traffic.GateFunc(func(ctx context.Context, c traffic.Check) (traffic.Verdict, error) {
		if c.Step == 1 {
			return traffic.Verdict{Outcome: traffic.Pass}, nil
		}
		return g.Check(ctx, c)
	})
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(passFirst))
	ro.Run(context.Background(), "") // pauses at 25%
	if got := candidateShare(t, svc); got != 25 {
		t.Fatalf("candidate at %d%%, want 25", got)
	}
	gen := svc.Snapshot().Generation
	res, err := ro.Abort(context.Background(), "operator says no")
	if err != nil {
		t.Fatal(err)
	}
	if res.State.Phase != traffic.Aborted || res.State.Reason != "operator says no" || candidateShare(t, svc) != 0 {
		t.Errorf("abort: %+v, share %d", res.State, candidateShare(t, svc))
	}
	if writes := svc.Snapshot().Generation - gen; writes != 1 {
		t.Errorf("abort made %d writes, want 1", writes)
	}
}

func TestAdvance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	g, _ := gate(traffic.Inconclusive)
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 1, MaxWait: time.Minute}, {Percent: 10}, {Percent: 50}, {Percent: 100}}}
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g))
	if _, err := ro.Advance(ctx, false); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Advance with no rollout: err = %v, want ErrInvalid", err)
	}
	ro.Run(ctx, "") // pauses at 1%
	res, err := ro.Advance(ctx, false)
	if err != nil || res.State.Phase != traffic.Progressing || res.State.Step != 2 || candidateShare(t, svc) != 10 {
		t.Fatalf("Advance: %+v, %v, share %d; want step 2 progressing at 10%%", res.State, err, candidateShare(t, svc))
	}
	res, err = ro.Advance(ctx, true)
	if err != nil || res.State.Phase != traffic.Succeeded || candidateShare(t, svc) != 100 {
		t.Fatalf("Advance(full): %+v, %v, share %d; want Succeeded at 100%%", res.State, err, candidateShare(t, svc))
	}
	sp, _ := svc.Split(ctx)
	if rev, _ := traffic.TagOf(sp, traffic.TagStable); rev != "api-cand" {
		t.Errorf("stable tag on %q after a full advance, want api-cand", rev)
	}
}

func TestDecodeState(t *testing.T) {
	t.Parallel()
	st := traffic.RolloutState{Candidate: "api-2", Stable: "api-1", Phase: traffic.Progressing, Step: 1, Percents: []int{5, 100}, StepStarted: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	got, err := traffic.DecodeState(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{
		"{}",
		`twostage/v1 {"candidate":"a","phase":"Dancing","percents":[100]}`,
		`twostage/v1 {"candidate":"","phase":"Progressing"}`,
		`twostage/v1 {"candidate":"a","phase":"Progressing","step":3,"percents":[5,100]}`,
		`twostage/v1 {"candidate":"a","phase":"Progressing","extra":1}`,
		`twostage/v1 not json`,
	} {
		if _, err := traffic.DecodeState(bad); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("DecodeState(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
	if z, err := traffic.DecodeState(""); err != nil || z.Candidate != "" {
		t.Errorf("DecodeState(\"\") = %+v, %v", z, err)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add("")
	f.Add(traffic.RolloutState{Candidate: "a", Stable: "b", Phase: traffic.Succeeded, Step: 2, Percents: []int{5, 100}}.Encode())
	f.Add(`twostage/v1 {"candidate":"a","phase":"Paused","step":-1,"percents":[]}`)
	f.Fuzz(func(t *testing.T, s string) {
		st, err := traffic.DecodeState(s)
		if err != nil {
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if s == "" {
			return
		}
		again, err := traffic.DecodeState(st.Encode())
		if err != nil {
			t.Fatalf("re-decoding %q: %v", st.Encode(), err)
		}
		if !cmp.Equal(st, again) {
			t.Fatalf("round trip changed %+v to %+v", st, again)
		}
	})
}

func BenchmarkRollout(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		clock := fake.NewClock(time.Time{})
		svc := fake.NewService("api", fake.WithClock(clock))
		ctx := context.Background()
		for i, rel := range []stage.Release{{Revision: "stable", Traffic: stage.RouteAll}, {Revision: "cand", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}}} {
			rel.Artifact = registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
			if _, err := svc.Deploy(ctx, rel); err != nil {
				b.Fatal(err)
			}
		}
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
		if _, err := ro.Run(ctx, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRolloutLooksDuringBake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: 5 * time.Minute}, {Percent: 100}}}

	t.Run("a failure rolls back before the bake ends", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		svc := newProd(t, clock)
		start := clock.Now()
		failAfter20s := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
			if c.Bake != 5*time.Minute || c.Started.IsZero() {
				t.Errorf("check %+v lacks the bake or the rollout start", c)
			}
			if c.Now.Sub(c.Since) >= 20*time.Second {
				return traffic.Verdict{Outcome: traffic.Fail, Reason: "errors"}, nil
			}
			return traffic.Verdict{Outcome: traffic.Inconclusive}, nil
		})
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(failAfter20s))
		if _, err := ro.Run(ctx, ""); !errors.Is(err, traffic.ErrRolledBack) {
			t.Fatalf("err = %v, want a rollback", err)
		}
		if took := clock.Now().Sub(start); took != 20*time.Second {
			t.Errorf("rolled back after %v, want 20s (the first look at or past 20s)", took)
		}
	})
	t.Run("an early pass waits for the bake", func(t *testing.T) {
		clock := fake.NewClock(time.Time{})
		svc := newProd(t, clock)
		start := clock.Now()
		var events int
		pass := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
			return traffic.Verdict{Outcome: traffic.Pass}, nil
		})
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(pass),
			traffic.WithObserver(func(e traffic.Event) {
				if e.Kind == traffic.EventGate {
					events++
				}
			}))
		if _, err := ro.Run(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if took := clock.Now().Sub(start); took != 5*time.Minute {
			t.Errorf("promoted after %v, want the 5m bake", took)
		}
		if events != 2 {
			t.Errorf("%d gate events, want 2 (the first pass and the deciding one), not one per look", events)
		}
	})
}

func TestRunAfterSuccessIsANoOp(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock))
	if _, err := ro.Run(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	gen := svc.Snapshot().Generation
	res, err := ro.Run(context.Background(), "")
	if err != nil || res.State.Phase != traffic.Succeeded || svc.Snapshot().Generation != gen {
		t.Errorf("second Run with no candidate: %v, %v, %d writes; want the succeeded result and no write", res.State.Phase, err, svc.Snapshot().Generation-gen)
	}
}

// watchPlan is 5% then 100%, with a 1-minute bake at 5%.
var watchPlan = traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: time.Minute}, {Percent: 100}}}

// tags returns the split's tags as tag → revision.
func tags(t *testing.T, r traffic.Router) map[string]string {
	t.Helper()
	sp, err := r.Split(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, tg := range []string{traffic.TagCandidate, traffic.TagStable, traffic.TagPrior} {
		if rev, ok := traffic.TagOf(sp, tg); ok {
			out[tg] = rev
		}
	}
	return out
}

func storedState(t *testing.T, svc *fake.Service) traffic.RolloutState {
	t.Helper()
	st, err := traffic.DecodeState(svc.Snapshot().Split.State)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRolloutWatchPasses: after the last step the gates keep being asked
// for the watch period, the rollout recorded as Watching; then it succeeds
// with one state-only write.
func TestRolloutWatchPasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		outcomes []traffic.Outcome // answers at 100%, the last repeated
	}{
		{name: "pass", outcomes: []traffic.Outcome{traffic.Pass}},
		{name: "inconclusive then pass", outcomes: []traffic.Outcome{traffic.Inconclusive, traffic.Pass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := fake.NewClock(time.Time{})
			svc := newProd(t, clock)
			var at100 []traffic.Check
			var watching []traffic.Phase // the stored phase at every look at 100%
			g := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
				if c.Percent < 100 {
					return traffic.Verdict{Outcome: traffic.Pass}, nil
				}
				o := tt.outcomes[min(len(at100), len(tt.outcomes)-1)]
				at100 = append(at100, c)
				watching = append(watching, storedState(t, svc).Phase)
				return traffic.Verdict{Outcome: o}, nil
			})
			var kinds []traffic.EventKind
			ro, err := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(watchPlan), traffic.WithGates(g),
				traffic.WithInterval(time.Minute), traffic.WithWatch(10*time.Minute),
				traffic.WithObserver(func(e traffic.Event) { kinds = append(kinds, e.Kind) }))
			if err != nil {
				t.Fatal(err)
			}
			start := clock.Now()
			res, err := ro.Run(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if took := clock.Now().Sub(start); took != 11*time.Minute {
				t.Errorf("rollout took %v, want the 1m bake and the 10m watch", took)
			}
			if res.State.Phase != traffic.Succeeded || storedState(t, svc).Phase != traffic.Succeeded || candidateShare(t, svc) != 100 {
				t.Errorf("ended %s (stored %s) at %d%%, want Succeeded at 100%%", res.State.Phase, storedState(t, svc).Phase, candidateShare(t, svc))
			}
			if diff := cmp.Diff(map[string]string{traffic.TagStable: "api-cand", traffic.TagPrior: "api-stable"}, tags(t, svc)); diff != "" {
				t.Errorf("tags mismatch (-want +got):\n%s", diff)
			}
			// Looks at 0, 1, …, 10 minutes from the 100% step's start.
			if len(at100) != 11 {
				t.Fatalf("%d looks at 100%%, want 11", len(at100))
			}
			for i, c := range at100 {
				if c.Now.Sub(c.Since) != time.Duration(i)*time.Minute || c.Step != 2 || c.Stable != "api-stable" || c.Bake != 10*time.Minute || c.Started.IsZero() {
					t.Errorf("look %d: %+v", i, c)
				}
				if watching[i] != traffic.Watching {
					t.Errorf("look %d: stored phase %s, want Watching", i, watching[i])
				}
			}
			if kinds[len(kinds)-1] != traffic.EventWatched {
				t.Errorf("events %v, want the last to be %q", kinds, traffic.EventWatched)
			}
		})
	}
}

// TestRolloutWatchFails: a Fail during the watch sends 100% back to the
// previous stable revision in one write.
func TestRolloutWatchFails(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	var gen uint64
	g := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		switch {
		case c.Percent < 100:
			return traffic.Verdict{Outcome: traffic.Pass}, nil
		case c.Now.Sub(c.Since) < 3*time.Minute:
			gen = uint64(svc.Snapshot().Generation)
			return traffic.Verdict{Outcome: traffic.Pass}, nil
		}
		return traffic.Verdict{Gate: "seq", Outcome: traffic.Fail, Reason: "regressed"}, nil
	})
	ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(watchPlan), traffic.WithGates(g),
		traffic.WithInterval(time.Minute), traffic.WithWatch(30*time.Minute))
	start := clock.Now()
	res, err := ro.Run(context.Background(), "")
	var re *traffic.RolloutError
	if !errors.Is(err, traffic.ErrRolledBack) || !errors.As(err, &re) || re.Step != 2 || re.Percent != 100 {
		t.Fatalf("err = %v, want a rollback at step 2 (100%%)", err)
	}
	if took := clock.Now().Sub(start); took != 4*time.Minute {
		t.Errorf("rolled back after %v, want 4m (bake 1m + 3m into the watch)", took)
	}
	if writes := uint64(svc.Snapshot().Generation) - gen; writes != 1 {
		t.Errorf("the rollback took %d writes, want 1", writes)
	}
	if res.State.Phase != traffic.RolledBack || storedState(t, svc).Phase != traffic.RolledBack || candidateShare(t, svc) != 0 {
		t.Errorf("ended %s (stored %s), candidate at %d%%; want RolledBack at 0%%", res.State.Phase, storedState(t, svc).Phase, candidateShare(t, svc))
	}
	sp, _ := svc.Split(context.Background())
	if got := traffic.Shares(sp)["api-stable"]; got != 100 {
		t.Errorf("previous stable serves %d%%, want 100", got)
	}
	if diff := cmp.Diff(map[string]string{traffic.TagStable: "api-stable", traffic.TagCandidate: "api-cand"}, tags(t, svc)); diff != "" {
		t.Errorf("tags mismatch (-want +got):\n%s", diff)
	}
}

// TestRolloutWatchResumes: a run that stops during the watch (a crash: the
// context ends) leaves the rollout Watching; a new run continues the watch
// from the recorded start of the 100% step, not from scratch, and can still
// roll back.
func TestRolloutWatchResumes(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		name := map[bool]string{false: "then passes", true: "then fails"}[fail]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clock := fake.NewClock(time.Time{})
			svc := newProd(t, clock)
			ctx, cancel := context.WithCancel(context.Background())
			pass := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
				if c.Percent == 100 && c.Now.Sub(c.Since) >= 4*time.Minute {
					cancel() // the runner dies 4 minutes into the watch
				}
				return traffic.Verdict{Outcome: traffic.Pass}, nil
			})
			opts := []traffic.RolloutOption{traffic.WithClock(clock), traffic.WithPlan(watchPlan), traffic.WithInterval(time.Minute), traffic.WithWatch(10 * time.Minute)}
			ro, _ := traffic.NewRollout(svc, append(opts, traffic.WithGates(pass))...)
			if _, err := ro.Run(ctx, ""); !errors.Is(err, context.Canceled) {
				t.Fatalf("first run: err = %v, want context.Canceled", err)
			}
			st := storedState(t, svc)
			if st.Phase != traffic.Watching || st.Step != 2 || candidateShare(t, svc) != 100 {
				t.Fatalf("after the crash: %+v at %d%%, want Watching at step 2, 100%%", st, candidateShare(t, svc))
			}
			// Two minutes later a new runner (new gate) picks it up.
			clock.Advance(2 * time.Minute)
			var looks []time.Duration
			second := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
				looks = append(looks, c.Now.Sub(c.Since))
				if fail && c.Now.Sub(c.Since) >= 8*time.Minute {
					return traffic.Verdict{Outcome: traffic.Fail, Reason: "regressed"}, nil
				}
				return traffic.Verdict{Outcome: traffic.Pass}, nil
			})
			var resumed bool
			ro2, _ := traffic.NewRollout(svc, append(opts, traffic.WithGates(second), traffic.WithObserver(func(e traffic.Event) {
				resumed = resumed || e.Kind == traffic.EventResume
			}))...)
			res, err := ro2.Run(context.Background(), "")
			want := []time.Duration{6 * time.Minute, 7 * time.Minute, 8 * time.Minute, 9 * time.Minute, 10 * time.Minute}
			wantPhase := traffic.Succeeded
			if fail {
				want = want[:3]
				wantPhase = traffic.RolledBack
				if !errors.Is(err, traffic.ErrRolledBack) {
					t.Errorf("resumed run: err = %v, want a rollback", err)
				}
			} else if err != nil {
				t.Errorf("resumed run: %v", err)
			}
			if diff := cmp.Diff(want, looks); diff != "" {
				t.Errorf("looks since the 100%% step began mismatch (-want +got):\n%s", diff)
			}
			if res.State.Phase != wantPhase || storedState(t, svc).Phase != wantPhase || !resumed {
				t.Errorf("ended %s (stored %s, resumed %v), want %s", res.State.Phase, storedState(t, svc).Phase, resumed, wantPhase)
			}
		})
	}
}

// TestRolloutWatchManual: during the watch a new rollout is refused, Advance
// ends the watch (success) and Abort goes back to the previous stable; a
// full Advance skips the watch; with no gates or no watch there is none.
func TestRolloutWatchManual(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	inWatch := func(t *testing.T) (*fake.Service, *traffic.Rollout) {
		clock := fake.NewClock(time.Time{})
		svc := newProd(t, clock)
		ctx, cancel := context.WithCancel(ctx)
		g := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
			if c.Percent == 100 {
				cancel()
			}
			return traffic.Verdict{Outcome: traffic.Pass}, nil
		})
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(watchPlan), traffic.WithGates(g), traffic.WithWatch(time.Hour))
		ro.Run(ctx, "") // stops in the watch
		if st := storedState(t, svc); st.Phase != traffic.Watching {
			t.Fatalf("set-up: %s, want Watching", st.Phase)
		}
		return svc, ro
	}
	t.Run("advance ends the watch", func(t *testing.T) {
		t.Parallel()
		svc, ro := inWatch(t)
		gen := svc.Snapshot().Generation
		res, err := ro.Advance(ctx, false)
		if err != nil || res.State.Phase != traffic.Succeeded || storedState(t, svc).Phase != traffic.Succeeded || svc.Snapshot().Generation-gen != 1 {
			t.Errorf("Advance: %s, %v, %d writes; want Succeeded in 1 write", res.State.Phase, err, svc.Snapshot().Generation-gen)
		}
	})
	t.Run("abort goes back to the previous stable", func(t *testing.T) {
		t.Parallel()
		svc, ro := inWatch(t)
		gen := svc.Snapshot().Generation
		res, err := ro.Abort(ctx, "looks bad")
		if err != nil || res.State.Phase != traffic.Aborted || candidateShare(t, svc) != 0 || svc.Snapshot().Generation-gen != 1 {
			t.Errorf("Abort: %s, %v, share %d, %d writes; want Aborted at 0%% in 1 write", res.State.Phase, err, candidateShare(t, svc), svc.Snapshot().Generation-gen)
		}
	})
	t.Run("another candidate is refused", func(t *testing.T) {
		t.Parallel()
		_, ro := inWatch(t)
		if _, err := ro.Run(ctx, "api-other"); !errors.Is(err, twostage.ErrConflict) {
			t.Errorf("Run of another candidate during the watch: err = %v, want ErrConflict", err)
		}
	})
	t.Run("full advance skips the watch", func(t *testing.T) {
		t.Parallel()
		clock := fake.NewClock(time.Time{})
		svc := newProd(t, clock)
		g, _ := gate(traffic.Inconclusive)
		plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, MaxWait: time.Minute}, {Percent: 100}}}
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g), traffic.WithWatch(time.Hour))
		ro.Run(ctx, "") // pauses at 5%
		if res, err := ro.Advance(ctx, true); err != nil || res.State.Phase != traffic.Succeeded {
			t.Errorf("Advance(full): %s, %v; want Succeeded", res.State.Phase, err)
		}
	})
	t.Run("no gates, no watch", func(t *testing.T) {
		t.Parallel()
		clock := fake.NewClock(time.Time{})
		svc := newProd(t, clock)
		ro, _ := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(watchPlan), traffic.WithWatch(time.Hour))
		start := clock.Now()
		res, err := ro.Run(ctx, "")
		if err != nil || res.State.Phase != traffic.Succeeded || clock.Now().Sub(start) != time.Minute {
			t.Errorf("Run: %s, %v after %v; want Succeeded after the 1m bake", res.State.Phase, err, clock.Now().Sub(start))
		}
	})
	t.Run("negative watch", func(t *testing.T) {
		t.Parallel()
		if _, err := traffic.NewRollout(fake.NewService("x"), traffic.WithWatch(-time.Second)); err == nil {
			t.Error("NewRollout with a negative watch: no error")
		}
	})
}

func TestDecodeStateWatching(t *testing.T) {
	t.Parallel()
	st := traffic.RolloutState{Candidate: "api-2", Stable: "api-1", Phase: traffic.Watching, Step: 2, Percents: []int{5, 100}, StepStarted: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Reason: "watching"}
	got, err := traffic.DecodeState(st.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, got); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
	if traffic.Watching.Done() {
		t.Error("Watching.Done() = true; the rollout is still under way")
	}
	bad := `twostage/v1 {"candidate":"a","phase":"Watching","step":1,"percents":[5,100]}`
	if _, err := traffic.DecodeState(bad); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("DecodeState(%q) err = %v, want ErrInvalid (a watch follows the last step)", bad, err)
	}
}

// TestRolloutCheckNext: every look tells the gate the share the candidate
// moves to when the step passes: the next step's, 100 before full traffic,
// 0 during the watch.
func TestRolloutCheckNext(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Time{})
	svc := newProd(t, clock)
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: time.Minute}, {Percent: 25, Bake: time.Minute}, {Percent: 100}}}
	seen := map[int]int{} // Percent → Next
	g := traffic.GateFunc(func(_ context.Context, c traffic.Check) (traffic.Verdict, error) {
		if next, ok := seen[c.Percent]; ok && next != c.Next {
			t.Errorf("step at %d%%: Next %d, then %d", c.Percent, next, c.Next)
		}
		seen[c.Percent] = c.Next
		return traffic.Verdict{Gate: "g", Outcome: traffic.Pass}, nil
	})
	ro, err := traffic.NewRollout(svc, traffic.WithClock(clock), traffic.WithPlan(plan), traffic.WithGates(g),
		traffic.WithInterval(time.Minute), traffic.WithWatch(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Run(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[int]int{5: 25, 25: 100, 100: 0}, seen); diff != "" {
		t.Errorf("Check.Next per step (-want +got):\n%s", diff)
	}
}

// TestPhasesSayWhatHappened pins the behaviour the Phase and Step.MaxWait
// docs describe (issue 15.5 made the docs agree with it): a step
// inconclusive past its MaxWait pauses with the candidate keeping its
// share (it does not roll back); a person's Abort during a rollout is
// Aborted; after a success it is RolledBack.
func TestPhasesSayWhatHappened(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := fake.NewClock(time.Time{})
	svc := fake.NewService("api", fake.WithClock(clk))
	a := registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat("a", 64)}
	b := registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat("b", 64)}
	for _, r := range []stage.Release{{Artifact: a, Revision: "one", Traffic: stage.RouteAll}, {Artifact: b, Revision: "two", Traffic: stage.RouteNone}} {
		if _, err := svc.Deploy(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	undecided := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Outcome: traffic.Inconclusive}, nil
	})
	plan := traffic.Plan{Steps: []traffic.Step{{Percent: 5, Bake: time.Minute, MaxWait: time.Minute}, {Percent: 100}}}
	ro, err := traffic.NewRollout(svc, traffic.WithPlan(plan), traffic.WithGates(undecided), traffic.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	res, err := ro.Run(ctx, "api-two")
	if !errors.Is(err, traffic.ErrPaused) || res.State.Phase != traffic.Paused || traffic.Shares(res.Split)["api-two"] != 5 {
		t.Fatalf("past MaxWait: %v, phase %s, split %s; want ErrPaused, Paused, api-two keeping 5%%", err, res.State.Phase, res.Split)
	}
	if res, err = ro.Abort(ctx, "a person stops it"); err != nil || res.State.Phase != traffic.Aborted {
		t.Fatalf("Abort during the rollout: %v, phase %s; want Aborted", err, res.State.Phase)
	}
	// A rollout that succeeds, then a person rolls it back.
	c := registry.Artifact{Repository: "registry.example.com/api", Digest: "sha256:" + strings.Repeat("c", 64)}
	if _, err := svc.Deploy(ctx, stage.Release{Artifact: c, Revision: "three", Traffic: stage.RouteNone}); err != nil {
		t.Fatal(err)
	}
	ro, err = traffic.NewRollout(svc, traffic.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	if res, err = ro.Run(ctx, "api-three"); err != nil || res.State.Phase != traffic.Succeeded {
		t.Fatalf("Run(api-three): %v, %s", err, res.State.Phase)
	}
	if res, err = ro.Abort(ctx, "a person undoes it"); err != nil || res.State.Phase != traffic.RolledBack {
		t.Fatalf("Abort after a success: %v, phase %s; want RolledBack", err, res.State.Phase)
	}
}
