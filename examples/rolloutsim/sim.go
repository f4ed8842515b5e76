package main

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// epoch is the simulated time of a release's start.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Cell is one point of the grid: a traffic rate, a metric delay and a
// rollback latency.
type Cell struct {
	Rate     float64       // real requests per second
	Delay    time.Duration // metric reporting delay
	Rollback time.Duration // from the decision to the rollback taking effect
}

// Params are the fixed parts of the model.
type Params struct {
	Baseline  float64       // the stable's error rate
	Horizon   time.Duration // how long a release is followed
	ProbeRate float64       // the probe's requests per second (ours only)
	// ProbeShare is the share of the probe's requests sent to the
	// candidate, the rest going to the stable: 0.9, analysis.NewProbe's
	// default (analysis.WithProbeCandidateShare).
	ProbeShare float64
	Seed       uint64
	// Ours are extra options for our Sequential gate (tuning experiments);
	// none means the package defaults.
	Ours []analysis.Option
	// Releases are the candidate error rates, healthy first; none means
	// [Releases].
	Releases []float64
	// Only, if set, keeps the strategies whose name contains it.
	Only string
	// OursInterval is how often our rollout asks its gate
	// (traffic.WithInterval).
	OursInterval time.Duration
	// OursWatch is how long our rollout keeps asking its gate after the
	// last step (traffic.WithWatch); 0 is none.
	OursWatch time.Duration
}

// DefaultParams are the model: baseline 0.1%, 60-minute horizon,
// a 2 req/s probe.
func DefaultParams() Params {
	return Params{Baseline: 0.001, Horizon: time.Hour, ProbeRate: 2, ProbeShare: 0.9, Seed: 1, OursInterval: time.Second}
}

// Outcome is what happened to one release under one strategy.
type Outcome struct {
	RolledBack bool
	// RollbackAt is when the rollback took effect (decision + latency),
	// from the release's start; valid when RolledBack.
	RollbackAt time.Duration
	// FullAt is when the candidate reached 100%; negative if never.
	FullAt time.Duration
	// Excess is the expected number of bad requests served to users beyond
	// what the stable would have failed: (p_c − p_s) × the candidate's real
	// requests, including everything served at 100% until the horizon. The
	// probe's synthetic requests are not users'; they are counted in
	// ProbeRequests (load).
	Excess float64
	// ProbeRequests counts the synthetic requests sent.
	ProbeRequests int64
	// Paused: the rollout stopped at a step that stayed inconclusive past
	// its maximum wait; the candidate kept that step's share until the
	// horizon (counted in Excess).
	Paused bool
}

// world is the synthetic traffic of one trial: every strategy that routes
// the same share in the same second sees the same counts (common random
// numbers), because each second's draws come from a generator seeded by
// (trial, second) and are made in a fixed order.
type world struct {
	seed   uint64
	rate   float64
	pc, ps float64
	// probeShare is the candidate's share of the probe's requests.
	probeShare float64
	src        *rand.PCG
	rng        *rand.Rand
}

func newWorld(seed uint64, rate, pc, ps, probeShare float64) *world {
	src := rand.NewPCG(seed, 0)
	return &world{seed: seed, rate: rate, pc: pc, ps: ps, probeShare: probeShare, src: src, rng: rand.New(src)}
}

// second draws second t's real traffic at candidate share (0..1), and the
// probe's if probe > 0 (requests per second; w.probeShare of them to the
// candidate, interleaved as analysis.Probe does).
func (w *world) second(t int, share float64, probe float64) (cand, stable, pCand, pStable analysis.Count) {
	w.src.Seed(w.seed, uint64(t)*0x9e3779b97f4a7c15+1)
	n := poisson(w.rng, w.rate)
	nc := binomial(w.rng, n, share)
	cand = analysis.Count{Requests: nc, Errors: binomial(w.rng, nc, w.pc)}
	stable = analysis.Count{Requests: n - nc, Errors: binomial(w.rng, n-nc, w.ps)}
	if probe > 0 {
		// Requests i = t*probe ... (t+1)*probe-1; request i goes to the
		// stable as analysis.Probe.Run sends it: when it completes another
		// stable share (the candidate first; the tenth of every ten with
		// the default 0.9).
		lo, hi := int64(float64(t)*probe), int64(float64(t+1)*probe)
		toStable := func(i int64) bool {
			s := 1 - w.probeShare
			return math.Floor(float64(i+1)*s+1e-9) > math.Floor(float64(i)*s+1e-9)
		}
		for i := lo; i < hi; i++ {
			if toStable(i) {
				pStable.Requests++
				if w.rng.Float64() < w.ps {
					pStable.Errors++
				}
			} else {
				pCand.Requests++
				if w.rng.Float64() < w.pc {
					pCand.Errors++
				}
			}
		}
	}
	return cand, stable, pCand, pStable
}

// series is a metrics source over simulated seconds, with a delay.
type series struct {
	now   *int // the simulation's current second
	delay int
	cand  []analysis.Count // cumulative: cand[t] = sum over seconds < t
	stab  []analysis.Count
	names [2]string
}

func newSeries(now *int, delay time.Duration) *series {
	return &series{now: now, delay: int(delay / time.Second), cand: []analysis.Count{{}}, stab: []analysis.Count{{}}, names: [2]string{"candidate", "stable"}}
}

func (s *series) add(c, st analysis.Count) {
	s.cand = append(s.cand, s.cand[len(s.cand)-1].Add(c))
	s.stab = append(s.stab, s.stab[len(s.stab)-1].Add(st))
}

func (s *series) Counts(_ context.Context, q analysis.Query) (analysis.Counts, error) {
	start := int(math.Ceil(q.Start.Sub(epoch).Seconds()))
	end := int(math.Floor(q.End.Sub(epoch).Seconds()))
	through := min(end, *s.now-s.delay, len(s.cand)-1)
	start = max(start, 0)
	through = max(through, start)
	out := analysis.Counts{Revisions: make(map[string]analysis.Count, 2), Through: epoch.Add(time.Duration(through) * time.Second)}
	if start > len(s.cand)-1 {
		start = len(s.cand) - 1
		through = start
	}
	for _, r := range q.Revisions {
		switch r {
		case s.names[0]:
			out.Revisions[r] = s.cand[through].Sub(s.cand[start])
		case s.names[1]:
			out.Revisions[r] = s.stab[through].Sub(s.stab[start])
		}
	}
	return out, nil
}

// Strategy is one way of rolling a release out: a [Stepper] that the
// simulation asks second by second, or an [Engine] that runs a whole trial
// itself.
type Strategy interface {
	// Name labels the strategy in tables.
	Name() string
	// Probe returns the probe rate the strategy uses (0 for none).
	Probe(p Params) float64
}

// Engine is a strategy that runs a trial itself (ours: the real
// traffic.Rollout on a fake clock).
type Engine interface {
	Strategy
	// Trial simulates one release (candidate error rate pc) with the
	// per-second random numbers of seed.
	Trial(cell Cell, p Params, seed uint64, pc float64) Outcome
}

// Stepper is a strategy modelled second by second.
type Stepper interface {
	Strategy
	// Start prepares a trial: metrics are the delayed real metrics, probe
	// the probe's (nil if the strategy does not probe).
	Start(env *Env)
	// Decide is called at the end of every second t (after second t-1's
	// traffic is recorded, so data covers [0, t)); it returns the share
	// for second t onward, or rollback.
	Decide(t int) (share float64, rollback bool)
}

// Env is what a strategy sees of a trial.
type Env struct {
	Metrics *series
	Probes  *series
	Cell    Cell
	Params  Params
	// TrueRate is the candidate's true error rate; only the oracle SPRT may
	// read it.
	TrueRate float64
	// BadRates are the bad rates of the grid; the oracle's alternative for
	// a healthy release is the smallest.
	BadRates []float64
}

// Run simulates one release (candidate error rate pc) under strategy s.
func Run(st Strategy, cell Cell, p Params, seed uint64, pc float64, badRates []float64) Outcome {
	if e, ok := st.(Engine); ok {
		return e.Trial(cell, p, seed, pc)
	}
	s := st.(Stepper)
	now := 0
	env := &Env{Metrics: newSeries(&now, cell.Delay), Cell: cell, Params: p, TrueRate: pc, BadRates: badRates}
	probe := s.Probe(p)
	if probe > 0 {
		env.Probes = newSeries(&now, 0)
	}
	s.Start(env)
	w := newWorld(seed, cell.Rate, pc, p.Baseline, p.ProbeShare)
	horizon := int(p.Horizon / time.Second)
	lat := int(cell.Rollback / time.Second)
	out := Outcome{FullAt: -1}
	share, rbAt := 0.0, -1
	dp := pc - p.Baseline
	for t := 0; t < horizon; t++ {
		now = t
		if rbAt < 0 {
			sh, rb := s.Decide(t)
			if rb {
				rbAt = t + lat
				out.RolledBack = true
				out.RollbackAt = time.Duration(rbAt) * time.Second
			} else {
				share = sh
			}
			if share >= 1 && out.FullAt < 0 && rbAt < 0 {
				out.FullAt = time.Duration(t) * time.Second
				// Fully promoted: nothing watches any more; the rest of
				// the horizon serves everything from the candidate.
				out.Excess += dp * cell.Rate * float64(horizon-t)
				return out
			}
		}
		if rbAt >= 0 && t >= rbAt {
			return out
		}
		pr := 0.0
		if rbAt < 0 {
			pr = probe
		}
		c, st, pcand, pstab := w.second(t, share, pr)
		out.Excess += dp * float64(c.Requests)
		out.ProbeRequests += pcand.Requests + pstab.Requests
		env.Metrics.add(c, st)
		if env.Probes != nil {
			env.Probes.add(pcand, pstab)
		}
	}
	return out
}

// gateCheck asks g about step (1-based) with the candidate at percent since
// second since, at second t.
func gateCheck(g traffic.Gate, step, percent, since, t int) traffic.Outcome {
	v, err := g.Check(context.Background(), traffic.Check{
		Stable: "stable", Candidate: "candidate", Step: step, Percent: percent,
		Since: epoch.Add(time.Duration(since) * time.Second), Now: epoch.Add(time.Duration(t) * time.Second),
	})
	if err != nil {
		panic(err) // the simulated sources do not fail
	}
	return v.Outcome
}

// --- random variates -------------------------------------------------------

func poisson(rng *rand.Rand, mean float64) int64 {
	if mean <= 0 {
		return 0
	}
	if mean < 30 {
		l, k, p := math.Exp(-mean), int64(0), rng.Float64()
		for p > l {
			k++
			p *= rng.Float64()
		}
		return k
	}
	return max(int64(math.Round(mean+math.Sqrt(mean)*rng.NormFloat64())), 0)
}

func binomial(rng *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(rng, n, 1-p)
	}
	if mean := float64(n) * p; mean < 30 {
		// Waiting times between successes are geometric.
		lq := math.Log1p(-p)
		var k, i int64
		for {
			i += int64(math.Floor(math.Log(1-rng.Float64())/lq)) + 1
			if i > n {
				return k
			}
			k++
		}
	}
	mean := float64(n) * p
	sd := math.Sqrt(mean * (1 - p))
	return min(max(int64(math.Round(mean+sd*rng.NormFloat64())), 0), n)
}
