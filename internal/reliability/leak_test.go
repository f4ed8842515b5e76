package reliability

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/time/rate"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/pipeline/fanout"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
)

// TestNoGoroutineLeaks stops the long-running parts part-way — a rollout
// waiting on its gates, a fan-out whose workers wait on the per-region
// write limiter (on the wall clock, cancelled before any token is due), a
// deploy polling an operation that never completes — closes the emulators
// and clients, and checks with goleak that no goroutine outlives them. It
// is not parallel, so the goroutines it checks are its own.
func TestNoGoroutineLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Run("work", func(t *testing.T) {
		t.Run("rollout cancelled while gated", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var asked atomic.Int32
			gate := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
				if asked.Add(1) == 3 {
					cancel()
				}
				return traffic.Verdict{Gate: "wait", Outcome: traffic.Inconclusive}, nil
			})
			e := newRunEnv(t)
			if err := promoteSetup(t.Context(), e); err != nil {
				t.Fatalf("setup: %v", err)
			}
			gated, err := pipeline.New(e.reg, e.repo, e.dev, e.prod, pipeline.WithClock(e.clk), pipeline.WithGates(gate))
			if err != nil {
				t.Fatal(err)
			}
			_, err = gated.Promote(ctx, pipeline.PromoteInput{})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Promote cancelled while gated = %v, want context.Canceled", err)
			}
			if err := e.chk.Err(); err != nil {
				t.Errorf("invariants violated:\n%v", err)
			}
		})
		t.Run("fan-out cancelled while rate-limited", func(t *testing.T) {
			e := newRunEnv(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			a, err := e.reg.Push(ctx, e.repo+":x", image("x"))
			if err != nil {
				t.Fatal(err)
			}
			var targets []fanout.Destination
			for i := range 4 {
				name := fmt.Sprintf("projects/%s/locations/%s/services/svc%d", project, region, i)
				targets = append(targets, fanout.Destination{Name: name, Region: region, Stage: e.mk(t, name)})
			}
			// One write an hour on the wall clock: after the first deploy
			// the other workers wait for a token until cancelled.
			res, err := fanout.Deploy(ctx, targets, stage.Release{Artifact: a, Revision: "x1", Traffic: stage.RouteAll},
				fanout.WithConcurrency(4), fanout.WithWriteRate(rate.Every(time.Hour), 1),
				fanout.WithProgress(func(fanout.Result) { cancel() }))
			if !errors.Is(err, context.Canceled) || res[0].Err != nil {
				t.Errorf("FanOut = %v (first target: %v); want the first deployed and the rest cancelled", err, res[0].Err)
			}
		})
		t.Run("deploy cancelled while its operation is pending", func(t *testing.T) {
			e := newRunEnvWith(t, []cloudrunfake.Option{cloudrunfake.WithManualOperations()})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var setupDone atomic.Bool
			polls := 0
			e.clk.OnSleep(func(time.Time) {
				if !setupDone.Load() {
					e.srv.CompleteOperations() // the placeholder's create completes
					return
				}
				// Then operations stay pending: the deploy polls on the fake
				// clock until cancelled.
				if polls++; polls == 5 {
					cancel()
				}
			})
			if err := e.placeholder(t.Context()); err != nil {
				t.Fatal(err)
			}
			setupDone.Store(true)
			a, err := e.reg.Push(ctx, e.repo+":y", image("y"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.prod.Deploy(ctx, stage.Release{Artifact: a, Revision: "y1", Traffic: stage.RouteNone})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Deploy cancelled while polling = %v, want context.Canceled", err)
			}
		})
	})
	goleak.VerifyNone(t, ignore)
}
