package traffic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
)

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
