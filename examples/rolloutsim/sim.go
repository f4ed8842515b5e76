package main

import (
	"context"
	"fmt"
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
	// Grid is "errors" (the error releases), "latency" (the latency
	// releases, [LatencyReleases]) or "both".
	Grid string
	// Latency is the healthy latency distribution and its bucketing.
	Latency LatencyModel
	// Window is how the other tools read their windows: "now" (the window
	// ending now, partly empty with delayed metrics) or "arrived" (the
	// newest window of data that has arrived).
	Window string
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
	return Params{Baseline: 0.001, Horizon: time.Hour, ProbeRate: 2, ProbeShare: 0.9, Seed: 1, OursInterval: time.Second,
		Grid: "both", Latency: DefaultLatencyModel(), Window: "now"}
}

// Release is one candidate: its error rate and its latency distribution,
// the healthy one (log-normal, [LatencyModel]) slowed by the factor Slow
// (1 or 0: not slowed), with a share Tail of its requests taking TailAdd
// longer.
type Release struct {
	ErrRate float64
	Slow    float64
	Tail    float64
	TailAdd time.Duration
}

// ErrRelease is a release with error rate pc and healthy latencies.
func ErrRelease(pc float64) Release { return Release{ErrRate: pc} }

func (r Release) slow() float64 {
	if r.Slow <= 0 {
		return 1
	}
	return r.Slow
}

// latencyBad reports whether r's latencies differ from the healthy ones.
func (r Release) latencyBad() bool { return r.slow() != 1 || r.Tail > 0 }

// Label names the release in a table column.
func (r Release) Label(baseline float64) string {
	switch {
	case r.Tail > 0:
		return fmt.Sprintf("tail: %g%% +%v", 100*r.Tail, r.TailAdd)
	case r.slow() != 1:
		return fmt.Sprintf("latency ×%g", r.slow())
	}
	return fmt.Sprintf("%g%% (%s)", r.ErrRate*100, ratio(r.ErrRate/baseline))
}

// LatencyReleases are the latency grid: healthy first, then the whole
// distribution ×1.1, ×1.25 and ×1.5, and 1% of requests +500 ms; all fail
// at the baseline error rate.
func LatencyReleases(baseline float64) []Release {
	return []Release{
		{ErrRate: baseline},
		{ErrRate: baseline, Slow: 1.1},
		{ErrRate: baseline, Slow: 1.25},
		{ErrRate: baseline, Slow: 1.5},
		{ErrRate: baseline, Tail: 0.01, TailAdd: 500 * time.Millisecond},
	}
}

// LatencyModel is the healthy latency distribution (log-normal of median
// Median and log-spread Sigma) and the buckets latencies reach the gates
// in (Cloud Monitoring's, analysis.DefaultLatencyBounds).
type LatencyModel struct {
	Median time.Duration
	Sigma  float64
	Bounds []time.Duration
}

// DefaultLatencyModel is the issue's: median 100 ms, σ 0.6.
func DefaultLatencyModel() LatencyModel {
	return LatencyModel{Median: 100 * time.Millisecond, Sigma: 0.6, Bounds: analysis.DefaultLatencyBounds()}
}

// cdf is P(latency < x) of release r.
func (m LatencyModel) cdf(r Release, x time.Duration) float64 {
	base := func(x time.Duration) float64 {
		if x <= 0 {
			return 0
		}
		z := (math.Log(float64(x)) - math.Log(float64(m.Median)*r.slow())) / m.Sigma
		return 0.5 * math.Erfc(-z/math.Sqrt2)
	}
	if r.Tail > 0 {
		return (1-r.Tail)*base(x) + r.Tail*base(x-r.TailAdd)
	}
	return base(x)
}

// stableP99 is the healthy distribution's 99th percentile.
func (m LatencyModel) stableP99() time.Duration {
	return time.Duration(float64(m.Median) * math.Exp(m.Sigma*2.3263478740408408))
}

// slowExcess is the share of r's requests slower than the stable's p99,
// beyond the stable's own 1%.
func (m LatencyModel) slowExcess(r Release) float64 {
	if !r.latencyBad() {
		return 0
	}
	return (1 - m.cdf(r, m.stableP99())) - 0.01
}

// probs returns r's bucket probabilities, from bucket lo on (the buckets
// below and after hold less than 1e-12).
func (m LatencyModel) probs(r Release) (lo int, p []float64) {
	n := len(m.Bounds) + 1
	all := make([]float64, n)
	prev := 0.0
	for k := range n {
		c := 1.0
		if k < len(m.Bounds) {
			c = m.cdf(r, m.Bounds[k])
		}
		all[k] = c - prev
		prev = c
	}
	lo, hi := 0, n-1
	for lo < hi && all[lo] < 1e-12 {
		lo++
	}
	for hi > lo && all[hi] < 1e-12 {
		hi--
	}
	return lo, all[lo : hi+1]
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
	// requests, including everything served at 100% until the horizon; for
	// a latency release, the expected number of requests slower than the
	// stable's p99 beyond its 1%. The probe's synthetic requests are not
	// users'; they are counted in ProbeRequests (load), not here (in the
	// model they fail, and are slow, at the users' rates).
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
	// Latency bucket probabilities of the candidate and the stable, from
	// buckets cLo and sLo on; nil when latencies are not drawn.
	cProbs, sProbs []float64
	cLo, sLo       int
	width          int // histogram length
	// probeShare is the candidate's share of the probe's requests.
	probeShare float64
	src        *rand.PCG
	rng        *rand.Rand
}

func newWorld(seed uint64, rate, pc, ps, probeShare float64) *world {
	src := rand.NewPCG(seed, 0)
	return &world{seed: seed, rate: rate, pc: pc, ps: ps, probeShare: probeShare, src: src, rng: rand.New(src)}
}

// withLatencies makes w draw latencies (see latencies) for a candidate
// of release r.
func (w *world) withLatencies(m LatencyModel, r Release) *world {
	w.cLo, w.cProbs = m.probs(r)
	w.sLo, w.sProbs = m.probs(Release{})
	w.width = max(w.cLo+len(w.cProbs), w.sLo+len(w.sProbs))
	return w
}

// latencies draws the latency histograms of second t's requests, right
// after w.second(t, ...) drew their counts (it continues its random
// stream, so the counts are the same whether latencies are drawn or not).
func (w *world) latencies(cand, stable, pCand, pStable analysis.Count) (hc, hs, hpc, hps []int64) {
	draw := func(n int64, lo int, p []float64) []int64 {
		h := make([]int64, w.width)
		rest := 1.0
		for k, pk := range p {
			if n <= 0 {
				break
			}
			x := n
			if k < len(p)-1 {
				x = binomial(w.rng, n, math.Min(pk/rest, 1))
			}
			h[lo+k] = x
			n -= x
			rest -= pk
		}
		return h
	}
	return draw(cand.Requests, w.cLo, w.cProbs), draw(stable.Requests, w.sLo, w.sProbs),
		draw(pCand.Requests, w.cLo, w.cProbs), draw(pStable.Requests, w.sLo, w.sProbs)
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
	// Cumulative latency histograms, like cand and stab; nil when none
	// are recorded.
	bounds       []time.Duration
	lcand, lstab [][]int64
}

// addLatencies records second t's histograms (after add).
func (s *series) addLatencies(c, st []int64) {
	if s.lcand == nil {
		s.lcand, s.lstab = [][]int64{make([]int64, len(c))}, [][]int64{make([]int64, len(st))}
	}
	sum := func(a, b []int64) []int64 {
		out := make([]int64, max(len(a), len(b)))
		copy(out, a)
		for i, v := range b {
			out[i] += v
		}
		return out
	}
	s.lcand = append(s.lcand, sum(s.lcand[len(s.lcand)-1], c))
	s.lstab = append(s.lstab, sum(s.lstab[len(s.lstab)-1], st))
}

// Latencies serves the histograms as Counts serves the counts.
func (s *series) Latencies(_ context.Context, q analysis.Query) (analysis.Latencies, error) {
	start, through := s.window(q)
	out := analysis.Latencies{Revisions: make(map[string]analysis.Histogram, 2), Through: epoch.Add(time.Duration(through) * time.Second)}
	diff := func(cum [][]int64) analysis.Histogram {
		if through >= len(cum) || start >= len(cum) {
			return analysis.Histogram{}
		}
		a, b := cum[through], cum[start]
		h := make([]int64, len(a))
		for i := range a {
			h[i] = a[i]
			if i < len(b) {
				h[i] -= b[i]
			}
		}
		return analysis.Histogram{Bounds: s.bounds, Counts: h}
	}
	for _, r := range q.Revisions {
		switch r {
		case s.names[0]:
			out.Revisions[r] = diff(s.lcand)
		case s.names[1]:
			out.Revisions[r] = diff(s.lstab)
		}
	}
	return out, nil
}

// window returns the seconds [start, through) a query covers.
func (s *series) window(q analysis.Query) (start, through int) {
	start = int(math.Ceil(q.Start.Sub(epoch).Seconds()))
	end := int(math.Floor(q.End.Sub(epoch).Seconds()))
	through = min(end, *s.now-s.delay, len(s.cand)-1)
	start = max(start, 0)
	through = max(through, start)
	if start > len(s.cand)-1 {
		start = len(s.cand) - 1
		through = start
	}
	return start, through
}

func newSeries(now *int, delay time.Duration) *series {
	return &series{now: now, delay: int(delay / time.Second), cand: []analysis.Count{{}}, stab: []analysis.Count{{}}, names: [2]string{"candidate", "stable"}}
}

func (s *series) add(c, st analysis.Count) {
	s.cand = append(s.cand, s.cand[len(s.cand)-1].Add(c))
	s.stab = append(s.stab, s.stab[len(s.stab)-1].Add(st))
}

func (s *series) Counts(_ context.Context, q analysis.Query) (analysis.Counts, error) {
	start, through := s.window(q)
	out := analysis.Counts{Revisions: make(map[string]analysis.Count, 2), Through: epoch.Add(time.Duration(through) * time.Second)}
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
	// Trial simulates one release with the per-second random numbers of
	// seed.
	Trial(cell Cell, p Params, seed uint64, rel Release) Outcome
}

// latencyUser is a strategy that reads latencies: the simulation draws
// them for it (and only for it; the counts are the same either way).
type latencyUser interface{ UsesLatency() bool }

func usesLatency(st Strategy) bool {
	u, ok := st.(latencyUser)
	return ok && u.UsesLatency()
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
	// Release is the candidate; only the oracle may read it.
	Release Release
	// BadRates are the bad rates of the grid; the oracle's alternative for
	// a healthy release is the smallest.
	BadRates []float64
}

// Run simulates one release under strategy s; bad are the grid's bad
// releases (the oracle's alternative for a healthy one is the first).
func Run(st Strategy, cell Cell, p Params, seed uint64, rel Release, bad []Release) Outcome {
	if e, ok := st.(Engine); ok {
		return e.Trial(cell, p, seed, rel)
	}
	s := st.(Stepper)
	now := 0
	pc := rel.ErrRate
	var badRates []float64
	for _, b := range bad {
		badRates = append(badRates, b.ErrRate)
	}
	env := &Env{Metrics: newSeries(&now, cell.Delay), Cell: cell, Params: p, TrueRate: pc, Release: rel, BadRates: badRates}
	env.Metrics.bounds = p.Latency.Bounds
	probe := s.Probe(p)
	if probe > 0 {
		env.Probes = newSeries(&now, 0)
	}
	s.Start(env)
	w := newWorld(seed, cell.Rate, pc, p.Baseline, p.ProbeShare)
	lats := usesLatency(st)
	if lats {
		w.withLatencies(p.Latency, rel)
	}
	horizon := int(p.Horizon / time.Second)
	lat := int(cell.Rollback / time.Second)
	out := Outcome{FullAt: -1}
	share, rbAt := 0.0, -1
	dp := pc - p.Baseline + p.Latency.slowExcess(rel)
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
		if lats {
			hc, hs, _, _ := w.latencies(c, st, pcand, pstab)
			env.Metrics.addLatencies(hc, hs)
		}
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
