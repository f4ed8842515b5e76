package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// ours is the library itself: the real [traffic.Rollout] with
// traffic.DefaultPlan, gated by analysis.NewSequential (its defaults, or
// Params.Ours) over the delayed metrics plus the probe (analysis.WithProbe),
// on a fake.Service and a fake.Clock. The engine's rules are therefore the
// library's, not a model of them: the gate is asked every interval from a
// step's start; a Fail rolls back at once, even during the bake; a Pass
// counts once the step's bake is over; a step Inconclusive past its
// MaxWait pauses (traffic stays where it is).
//
// The users are driven by the clock: every time the engine sleeps, the
// seconds that elapsed are served with the split the fake service routes
// then (the engine writes only between sleeps), drawn from the same
// per-(trial, second) random numbers as the other strategies', and recorded
// into an analysis.LatencyScript (counts and latency histograms) that shows
// them after the metric delay, after the stable's last day. The probe
// (Params.ProbeRate, Params.ProbeShare of the requests to the candidate) is
// recorded into a second Script with no delay until the decision.
type ours struct {
	interval time.Duration // the rollout's gate interval (traffic.WithInterval)
}

func (*ours) Name() string { return "ours: traffic.Rollout, default plan, sequential + probe" }

func (*ours) Probe(p Params) float64 { return p.ProbeRate }

// UsesLatency: our gate reads latencies when the model has buckets.
func (*ours) UsesLatency() bool { return true }

// Trial runs one release through the real rollout engine.
func (s *ours) Trial(cell Cell, p Params, seed uint64, rel Release) Outcome {
	pc := rel.ErrRate
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := fake.NewClock(epoch)
	svc := fake.NewService("sim", fake.WithClock(clk))
	var names [2]string
	for i, rel := range []stage.Release{
		{Revision: "stable", Traffic: stage.RouteAll},
		{Revision: "candidate", Traffic: stage.RouteNone, Tags: []string{traffic.TagCandidate}},
	} {
		rel.Artifact = registry.Artifact{Repository: "registry.example.com/sim", Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64)}
		rev, err := svc.Deploy(ctx, rel)
		if err != nil {
			panic(err) // the fake refuses only a programming error here
		}
		names[i] = rev.Name
	}
	stableRev, candRev := names[0], names[1]

	metrics := analysis.NewLatencyScript(clk, cell.Delay)
	// The stable's last day, as Cloud Monitoring keeps it (the gate reads
	// it as its baseline, analysis.WithBaseline), drawn from its own
	// stream so the per-second numbers stay common to every strategy.
	hist := rand.New(rand.NewPCG(seed, 0xba5e11e))
	day := poisson(hist, cell.Rate*86400)
	metrics.Record(stableRev, epoch.Add(-24*time.Hour), analysis.Count{Requests: day, Errors: binomial(hist, day, p.Baseline)})
	probes := analysis.NewLatencyScript(clk, 0)
	lats := len(p.Latency.Bounds) > 0
	opts := append(append([]analysis.Option{}, p.Ours...), analysis.WithClock(clk))
	if p.ProbeRate > 0 {
		opts = append(opts, analysis.WithProbe(probes))
	}
	gate, err := analysis.NewSequential(metrics, opts...)
	if err != nil {
		panic(err)
	}
	interval := s.interval
	if p.OursInterval > 0 {
		interval = p.OursInterval
	}
	var last float64 // the candidate's share before a rollback
	fullAt := -1     // the second the candidate reached 100%
	ro, err := traffic.NewRollout(svc,
		traffic.WithPlan(traffic.DefaultPlan()),
		traffic.WithGates(gate),
		traffic.WithClock(clk),
		traffic.WithInterval(interval),
		traffic.WithWatch(p.OursWatch),
		traffic.WithObserver(func(e traffic.Event) {
			switch {
			case e.Kind == traffic.EventRollback:
				last = float64(traffic.Shares(e.Before)[candRev]) / 100
			case e.Kind == traffic.EventStep && e.Percent == 100:
				fullAt = int(e.Time.Sub(epoch) / time.Second)
			}
		}))
	if err != nil {
		panic(err)
	}

	w := newWorld(seed, cell.Rate, pc, p.Baseline, p.ProbeShare)
	if lats {
		w.withLatencies(p.Latency, rel)
	}
	horizon := int(p.Horizon / time.Second)
	dp := pc - p.Baseline + p.Latency.slowExcess(rel)
	out := Outcome{FullAt: -1}
	done := 0 // seconds of traffic served so far
	serve := func(upto int, share, probe float64) {
		for ; done < upto && done < horizon; done++ {
			c, st, pcand, pstab := w.second(done, share, probe)
			out.Excess += dp * float64(c.Requests)
			at := epoch.Add(time.Duration(done) * time.Second)
			metrics.Record(candRev, at, c)
			metrics.Record(stableRev, at, st)
			var hpc, hps []int64
			if lats {
				var hc, hs []int64
				hc, hs, hpc, hps = w.latencies(c, st, pcand, pstab)
				metrics.RecordLatencies(candRev, at, analysis.Histogram{Bounds: p.Latency.Bounds, Counts: hc})
				metrics.RecordLatencies(stableRev, at, analysis.Histogram{Bounds: p.Latency.Bounds, Counts: hs})
			}
			if n := pcand.Requests + pstab.Requests; n > 0 {
				out.ProbeRequests += n
				probes.Record(candRev, at, pcand)
				probes.Record(stableRev, at, pstab)
				if lats {
					probes.RecordLatencies(candRev, at, analysis.Histogram{Bounds: p.Latency.Bounds, Counts: hpc})
					probes.RecordLatencies(stableRev, at, analysis.Histogram{Bounds: p.Latency.Bounds, Counts: hps})
				}
			}
		}
	}
	share := func() float64 {
		sp, err := svc.Split(context.Background())
		if err != nil {
			panic(err)
		}
		return float64(traffic.Shares(sp)[candRev]) / 100
	}
	clk.OnSleep(func(now time.Time) {
		// At 100% the candidate tag is gone (the stable tag is the
		// candidate's), so the probe stops, as pipeline.Prober does.
		sh, probe := share(), p.ProbeRate
		if sh >= 1 {
			probe = 0
		}
		serve(int(now.Sub(epoch)/time.Second), sh, probe)
		if done >= horizon {
			// Followed long enough: the engine's next look fails on the
			// cancelled context and Run returns.
			cancel()
		}
	})

	_, err = ro.Run(ctx, candRev)
	t := int(clk.Now().Sub(epoch) / time.Second)
	switch {
	case err == nil:
		out.FullAt = time.Duration(fullAt) * time.Second
		// Fully promoted and the watch (if any) over: nothing watches any
		// more; the rest of the horizon serves everything from the
		// candidate.
		out.Excess += dp * cell.Rate * float64(max(horizon-max(t, done), 0))
	case errors.Is(err, traffic.ErrRolledBack):
		rbAt := t + int(cell.Rollback/time.Second)
		out.RolledBack = true
		out.RollbackAt = time.Duration(rbAt) * time.Second
		// Until the rollback takes effect the candidate keeps its share;
		// nothing is decided and nothing is probed any more.
		serve(rbAt, last, 0)
	case errors.Is(err, traffic.ErrPaused):
		// Traffic stays where it is until someone acts: count it to the
		// horizon.
		out.Paused = true
		serve(horizon, share(), 0)
	case ctx.Err() != nil:
		// The horizon passed with the rollout still under way (or
		// watching).
		if fullAt >= 0 {
			out.FullAt = time.Duration(fullAt) * time.Second
		}
	default:
		panic(fmt.Sprintf("rollout of %s: %v", candRev, err))
	}
	return out
}
