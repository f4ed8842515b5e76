package analysis

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twostage/twostage"

	"github.com/twostage/twostage/traffic"
)

// Sequential is an anytime-valid sequential test of the candidate's error
// rate against the live stable revision (see the package documentation and
// Lindon et al., KDD 2022). It may be asked as often as one likes.
//
// The evidence accumulates over the whole rollout of a candidate against a
// stable (across steps), batch by batch as new data arrives: each Check
// counts the requests since the rollout's first step began and adds what is
// new since the previous Check (for the relative test, what is new since it
// last saw both revisions serve: at low traffic a batch spans several
// looks, so no revision's requests are lost, at the price of assuming the
// error rates steady within it). A Sequential gate created afresh (after a
// restart) starts from the current step and judges its data as one batch,
// which is still valid, only coarser; at 100% it starts from the rollout's
// start (Check.Started), for the historical test needs the stable's data.
//
// Verdicts:
//   - Fail when E_rel/T_rel + E_crash/T_crash + E_lat/T_lat (+ E_h/T_h
//     with a known baseline) reaches 1, the e-values of the relative,
//     crash, latency (and historical) tests over their thresholds T =
//     1/(α·share), T_h = 1/α_h (so each test alone fails at its threshold;
//     the latency test only while the stable serves traffic);
//   - Inconclusive while the primary metrics do not yet cover the step's
//     first [WithMinDuration], while the candidate has served fewer than
//     [WithMinRequests] requests, or while the relative e-value is above
//     the hold level, for a bounded time ([WithHold]), or, on the step
//     before full traffic (Check.Next = 100), while the data favour a small
//     regression over none, for a bounded time ([WithPromotionHold]);
//   - at 100% (the watch of traffic.WithWatch), where the stable serves
//     nothing, Fail also when the historical e-value, which compares the
//     candidate's error rate with the stable's measured earlier (its
//     history, or its rate before 100%), reaches 1/α_h
//     ([WithHistoricalTest]); Pass otherwise;
//   - Pass otherwise.
//
// Verdict.Numbers holds candidate_requests, candidate_errors,
// stable_requests and stable_errors (every source, the whole rollout so
// far), primary_candidate_requests, e_value and threshold (the relative
// test), crash_e_value, crash_threshold and crash_ceiling (the crash test),
// historical_e_value and historical_threshold (the historical test),
// covered_seconds (how much of the step the primary metrics cover),
// lag_seconds (how far they lag Now), and promotion_likelihood_ratio and
// promotion_expected_nats (the promotion hold's statistic, and how far
// below 1 in nats a healthy candidate's would be expected to be by now),
// evidence (the sum above; Fail at 1), and with latencies latency_e_value,
// latency_threshold, candidate_p50_ms, candidate_p95_ms,
// candidate_p99_ms, the stable's likewise, and p50_ratio, p95_ratio and
// p99_ratio (candidate over stable; −1 without data), from the primary
// metrics' histograms since the rollout's start.
//
// Sequential is safe for concurrent use. Create one with [NewSequential].
type Sequential struct {
	m   Metrics
	cfg config
	// lat holds, per source (primary first, then probes), the source as
	// a LatencyMetrics, or nil; latOn says whether any is.
	lat   []LatencyMetrics
	latOn bool

	mu     sync.Mutex // guards states and tick
	states map[pair]*seqState
	tick   uint64
}

type pair struct{ stable, candidate string }

type seqState struct {
	mu       sync.Mutex // guards every field below
	origin   time.Time
	step     int
	stepSeen time.Time // Since of the latest step seen
	used     uint64
	ev       *evidence
	baseRead bool          // whether the stable's history was read (WithBaseline)
	lat      *latencyTest  // nil when no source has latencies
	dc, ds   []int64       // scratch: a latency batch
	last     []sourceState // per source: primary first, then probes
}

// sourceState is how much of a source's counts the evidence has taken in.
// cand and stable are everything seen (the totals and the crash test take
// them in at once); relCand and relStable are what the relative test has
// taken in: it closes a batch only once both revisions have new requests,
// for a batch where one revision served nothing says nothing about which
// of them fails more, and dropping it would throw away the other's
// requests (at low traffic most of them, and most of a probe's).
type sourceState struct {
	cand, stable       Count
	relCand, relStable Count
	through            time.Time

	// The latency test's: everything seen, and what it has taken in.
	latCand, latStable       []int64
	latRelCand, latRelStable []int64
	latThrough               time.Time
}

var _ traffic.Gate = (*Sequential)(nil)

// NewSequential returns a Sequential gate reading the primary metrics m.
// Options: [WithAlpha], [WithCrashTest], [WithMinDuration],
// [WithMinRequests], [WithHold], [WithPromotionHold], [WithRatios],
// [WithRatioDecay], [WithProbe], [WithHistoricalTest], [WithClock],
// [WithLogger], [WithName]. Errors wrap twostage.ErrInvalid.
func NewSequential(m Metrics, opts ...Option) (*Sequential, error) {
	if m == nil {
		return nil, fmt.Errorf("analysis: NewSequential: nil metrics: %w", twostage.ErrInvalid)
	}
	cfg, err := newConfig(opts, forSequential, "sequential")
	if err != nil {
		return nil, err
	}
	g := &Sequential{m: m, cfg: cfg, states: make(map[pair]*seqState)}
	for _, src := range append([]Metrics{m}, cfg.probes...) {
		lm, _ := src.(LatencyMetrics)
		if cfg.latShare == 0 {
			lm = nil
		}
		g.lat = append(g.lat, lm)
		g.latOn = g.latOn || lm != nil
	}
	if !g.latOn {
		g.cfg.latShare = 0
	}
	if g.cfg.crashShare == -1 {
		// The default: half of alpha without a latency test; with one,
		// 0.4 (a healthy candidate almost never trips the crash test, and
		// a larger share rolls a crashing one back sooner through the
		// probe), or less when the latency test takes most of alpha.
		g.cfg.crashShare = 0.5
		if g.cfg.latShare > 0 {
			g.cfg.crashShare = min(0.4, (1-g.cfg.latShare)/2)
		}
	}
	return g, nil
}

// HistoricalThreshold returns the e-value at which the historical test
// fails a step at 100% (+Inf when it is off).
func (g *Sequential) HistoricalThreshold() float64 {
	if g.cfg.histAlpha == 0 {
		return math.Inf(1)
	}
	return 1 / g.cfg.histAlpha
}

// Thresholds returns the e-values at which the relative and the crash test
// fail a step (+Inf for a test that is off).
func (g *Sequential) Thresholds() (relative, crash float64) {
	s := g.cfg.crashShare
	relative = 1 / (g.cfg.alpha * (1 - s - g.cfg.latShare))
	crash = math.Inf(1)
	if s > 0 {
		crash = 1 / (g.cfg.alpha * s)
	}
	return relative, crash
}

// LatencyThreshold returns the e-value at which the latency test fails a
// step (+Inf when it is off: no source has latencies, or
// [WithLatencyTest](0)).
func (g *Sequential) LatencyThreshold() float64 {
	if g.cfg.latShare == 0 {
		return math.Inf(1)
	}
	return 1 / (g.cfg.alpha * g.cfg.latShare)
}

// Check judges the step described by c. See [Sequential] for the verdicts.
func (g *Sequential) Check(ctx context.Context, c traffic.Check) (traffic.Verdict, error) {
	if c.Stable == "" || c.Candidate == "" {
		return traffic.Verdict{}, fmt.Errorf("analysis: sequential check: stable %q and candidate %q must both be named: %w", c.Stable, c.Candidate, twostage.ErrInvalid)
	}
	if c.Now.IsZero() {
		c.Now = g.cfg.clock.Now()
	}
	st := g.state(c)

	// Read every source outside the state's lock.
	st.mu.Lock()
	origin, baseRead := st.origin, st.baseRead
	st.mu.Unlock()
	var base Count
	if !baseRead && g.cfg.baseline > 0 {
		r, err := g.m.Counts(ctx, Query{Revisions: []string{c.Stable}, Start: origin.Add(-g.cfg.baseline), End: origin})
		if err != nil {
			return traffic.Verdict{Gate: g.cfg.name, Outcome: traffic.Inconclusive, Reason: "metrics unavailable"},
				fmt.Errorf("reading the history of stable %q: %w", c.Stable, err)
		}
		base = r.Revisions[c.Stable]
	}
	sources := append([]Metrics{g.m}, g.cfg.probes...)
	got := make([]Counts, len(sources))
	var lats []Latencies
	if g.latOn {
		lats = make([]Latencies, len(sources))
	}
	q := Query{Revisions: []string{c.Candidate, c.Stable}, Start: origin, End: c.Now}
	for i, m := range sources {
		r, err := m.Counts(ctx, q)
		if err == nil && g.lat[i] != nil {
			lats[i], err = g.lat[i].Latencies(ctx, q)
		}
		if err != nil {
			which := "primary metrics"
			if i > 0 {
				which = fmt.Sprintf("probe %d", i)
			}
			return traffic.Verdict{Gate: g.cfg.name, Outcome: traffic.Inconclusive, Reason: "metrics unavailable"},
				fmt.Errorf("reading %s for candidate %q and stable %q: %w", which, c.Candidate, c.Stable, err)
		}
		got[i] = r
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.origin.Equal(origin) {
		// A concurrent Check reset the rollout; its answer stands.
		return traffic.Verdict{Gate: g.cfg.name, Outcome: traffic.Inconclusive, Reason: "rollout restarted during the check; ask again"}, nil
	}
	if !st.baseRead {
		st.baseRead = true
		st.ev.setBase(base)
	}
	for i, r := range got {
		last := &st.last[i]
		if !r.Through.After(last.through) {
			continue
		}
		cand, stable := r.Revisions[c.Candidate], r.Revisions[c.Stable]
		cand, stable = maxCount(last.cand, cand), maxCount(last.stable, stable)
		st.ev.observe(cand.Sub(last.cand), stable.Sub(last.stable))
		if dc, ds := cand.Sub(last.relCand), stable.Sub(last.relStable); dc.Requests > 0 && ds.Requests > 0 {
			st.ev.observeRelative(dc, ds)
			last.relCand, last.relStable = cand, stable
		}
		last.cand, last.stable = cand, stable
		last.through = r.Through
	}
	for i, l := range lats {
		if g.lat[i] != nil {
			st.observeLatencies(i, l, c)
		}
	}
	return g.verdict(c, st), nil
}

// observeLatencies adds source i's new latencies to the latency test.
func (st *seqState) observeLatencies(i int, l Latencies, c traffic.Check) {
	last := &st.last[i]
	if !l.Through.After(last.latThrough) {
		return
	}
	lt := st.lat
	cand, stable := l.Revisions[c.Candidate], l.Revisions[c.Stable]
	if lt.bounds == nil && len(cand.Bounds) > 0 {
		lt.bounds = cand.Bounds
	}
	// Everything seen (never less than before: the counts are
	// cumulative), then what is new to the test, in buffers of our own.
	last.latCand = maxInto(last.latCand, lt.counts(cand))
	last.latStable = maxInto(last.latStable, lt.counts(stable))
	st.dc = subInto(st.dc, last.latCand, last.latRelCand)
	st.ds = subInto(st.ds, last.latStable, last.latRelStable)
	if total(st.dc) > 0 && total(st.ds) > 0 {
		lt.observe(st.dc, st.ds, i == 0)
		last.latRelCand = append(last.latRelCand[:0], last.latCand...)
		last.latRelStable = append(last.latRelStable[:0], last.latStable...)
	}
	last.latThrough = l.Through
}

// maxInto sets dst to the bucket-wise maximum of dst and b and returns it.
func maxInto(dst, b []int64) []int64 {
	for len(dst) < len(b) {
		dst = append(dst, 0)
	}
	for i, v := range b {
		dst[i] = max(dst[i], v)
	}
	return dst
}

// subInto sets dst to a − b, floored at zero, and returns it.
func subInto(dst, a, b []int64) []int64 {
	dst = dst[:0]
	for i, v := range a {
		if i < len(b) {
			v = max(v-b[i], 0)
		}
		dst = append(dst, v)
	}
	return dst
}

func total(c []int64) int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

func maxCount(a, b Count) Count {
	return Count{Requests: max(a.Requests, b.Requests), Errors: max(a.Errors, b.Errors)}
}

// state returns the state of c's rollout, starting a new one when c is the
// first step of a rollout begun after the one recorded.
func (g *Sequential) state(c traffic.Check) *seqState {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.tick++
	k := pair{c.Stable, c.Candidate}
	st := g.states[k]
	if st != nil {
		st.mu.Lock()
		restart := c.Step < st.step || (c.Step == st.step && c.Since.After(st.stepSeen) && c.Step <= 1)
		if !restart {
			if c.Step > st.step {
				st.step, st.stepSeen = c.Step, c.Since
			}
			st.used = g.tick
			st.mu.Unlock()
			return st
		}
		st.mu.Unlock()
	}
	origin := c.Since
	if c.Percent >= 100 && !c.Started.IsZero() && c.Started.Before(origin) {
		// A gate created afresh during the watch: read the whole rollout
		// (as one batch), for the historical test needs the stable's
		// error rate from before 100%. One batch over steps of different
		// shares is, for the relative test too, valid only under the
		// historical test's assumption of stationary error rates.
		origin = c.Started
	}
	st = &seqState{
		origin: origin, step: c.Step, stepSeen: c.Since, used: g.tick,
		ev:   newEvidence(&g.cfg),
		last: make([]sourceState, 1+len(g.cfg.probes)),
	}
	if g.latOn {
		st.lat = newLatencyTest()
	}
	for i := range st.last {
		st.last[i].through = origin
		st.last[i].latThrough = origin
	}
	g.states[k] = st
	if len(g.states) > g.cfg.maxTracked {
		var oldest pair
		var used uint64 = math.MaxUint64
		for k2, s2 := range g.states {
			if s2 != st && s2.used < used {
				oldest, used = k2, s2.used
			}
		}
		delete(g.states, oldest)
	}
	return st
}

func (g *Sequential) verdict(c traffic.Check, st *seqState) traffic.Verdict {
	relT, crashT := g.Thresholds()
	rel, crash := st.ev.relative(), st.ev.crash()
	histT := g.HistoricalThreshold()
	guard := 0.0
	if st.ev.baseOK {
		if guard = st.ev.guard(); guard >= baselineGuard {
			// The stable fails more often now than in its history: the
			// history is no baseline for this rollout.
			st.ev.baseOK = false
		}
	}
	hist := st.ev.historical(st.last[0].cand)
	promo, promoExp := st.ev.promotion(), st.ev.promotionExpected()
	latT, lat := g.LatencyThreshold(), 0.0
	if st.lat != nil {
		lat = st.lat.eValue()
	}
	primary := st.last[0]
	covered := primary.through.Sub(c.Since)
	size := 24
	if st.lat != nil {
		size = 40
	}
	v := traffic.Verdict{Gate: g.cfg.name, Numbers: make(map[string]float64, size)}
	v.Numbers["candidate_requests"] = float64(st.ev.cand.Requests)
	v.Numbers["candidate_errors"] = float64(st.ev.cand.Errors)
	v.Numbers["stable_requests"] = float64(st.ev.stable.Requests)
	v.Numbers["stable_errors"] = float64(st.ev.stable.Errors)
	v.Numbers["primary_candidate_requests"] = float64(primary.cand.Requests)
	v.Numbers["e_value"] = rel
	v.Numbers["threshold"] = relT
	v.Numbers["crash_e_value"] = crash
	v.Numbers["crash_threshold"] = crashT
	v.Numbers["crash_ceiling"] = st.ev.ceiling()
	v.Numbers["historical_e_value"] = hist
	v.Numbers["historical_threshold"] = histT
	v.Numbers["baseline_requests"] = float64(st.ev.base.Requests)
	v.Numbers["baseline_errors"] = float64(st.ev.base.Errors)
	v.Numbers["baseline_guard_e_value"] = guard
	v.Numbers["baseline_in_use"] = b2f(st.ev.baseOK)
	v.Numbers["promotion_likelihood_ratio"] = promo
	v.Numbers["promotion_expected_nats"] = promoExp
	v.Numbers["covered_seconds"] = math.Max(covered.Seconds(), 0)
	v.Numbers["lag_seconds"] = c.Now.Sub(primary.through).Seconds()
	if st.lat != nil {
		g.latencyNumbers(v.Numbers, st, lat, latT)
	}
	// The tests share alpha: each e-value over its threshold is the part
	// of the budget it claims, and their sum, a convex combination of
	// e-values (weights α_i/α), fails the step at 1. A test alone fails it
	// at its threshold, as if the budget were split, and together they
	// fail it sooner.
	relTerm, crashTerm, latTerm := rel/relT, crash/crashT, 0.0
	if st.lat != nil && c.Percent < 100 {
		latTerm = lat / latT
	}
	histTerm := 0.0
	if st.ev.baseOK && c.Percent < 100 {
		// With the stable's history as a known baseline the historical
		// test judges every look, within its own budget (WithBaseline).
		histTerm = hist / histT
	}
	score := relTerm + crashTerm + latTerm + histTerm
	v.Numbers["evidence"] = score
	switch {
	case score >= 1:
		v.Outcome = traffic.Fail
		// The reason names the test with the largest part of the evidence.
		switch top := max(relTerm, crashTerm, latTerm, histTerm); {
		case latTerm == top && latTerm > 0:
			v.Reason = fmt.Sprintf("candidate is slower than the stable: latency e-value %.3g (threshold %.3g; evidence %.3g of 1 with the error tests) (%s)", lat, latT, score, latencySummary(v.Numbers))
		case histTerm == top && histTerm > 0:
			v.Reason = fmt.Sprintf("candidate fails more often than the stable's history: historical e-value %.3g (threshold %.3g; evidence %.3g of 1) (candidate %d/%d errors in the primary metrics, history %d/%d)",
				hist, histT, score, st.last[0].cand.Errors, st.last[0].cand.Requests, st.ev.base.Errors, st.ev.base.Requests)
		case crashTerm == top && crashTerm > relTerm:
			v.Reason = fmt.Sprintf("candidate crashes: error rate above %.3g with e-value %.3g (threshold %.3g; evidence %.3g of 1) (candidate %d/%d errors)",
				st.ev.ceiling(), crash, crashT, score, st.ev.cand.Errors, st.ev.cand.Requests)
		default:
			v.Reason = fmt.Sprintf("candidate fails more often than the stable: e-value %.3g (threshold %.3g; evidence %.3g of 1) (candidate %d/%d errors, stable %d/%d)",
				rel, relT, score, st.ev.cand.Errors, st.ev.cand.Requests, st.ev.stable.Errors, st.ev.stable.Requests)
		}
	case c.Percent >= 100 && hist >= histT && st.ev.baseOK:
		v.Outcome = traffic.Fail
		v.Reason = fmt.Sprintf("candidate fails more often than the stable's history: historical e-value %.3g ≥ %.3g (candidate %d/%d errors in the primary metrics, history %d/%d)",
			hist, histT, st.last[0].cand.Errors, st.last[0].cand.Requests, st.ev.base.Errors, st.ev.base.Requests)
	case c.Percent >= 100 && hist >= histT:
		v.Outcome = traffic.Fail
		v.Reason = fmt.Sprintf("candidate fails more often than the stable did before 100%%: historical e-value %.3g ≥ %.3g (candidate %d/%d errors, stable %d/%d)",
			hist, histT, st.ev.cand.Errors, st.ev.cand.Requests, st.ev.stable.Errors, st.ev.stable.Requests)
	case c.Percent >= 100:
		v.Outcome = traffic.Pass
		v.Reason = fmt.Sprintf("candidate serves all traffic; no regression against the stable's earlier error rate: historical e-value %.3g < %.3g", hist, histT)
	case covered < g.cfg.minDuration:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("metrics cover %v of the step, want %v", max(covered, 0).Round(time.Second), g.cfg.minDuration)
	case primary.cand.Requests < g.cfg.minRequests:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("low traffic: candidate served %d requests, want %d", primary.cand.Requests, g.cfg.minRequests)
	case rel > g.cfg.holdAbove && covered < g.cfg.minDuration+g.cfg.holdFor:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("holding: e-value %.3g is above %.3g, not yet %.3g", rel, g.cfg.holdAbove, relT)
	case c.Next >= 100 && promo > g.cfg.promoLevel && promoExp >= -math.Log(g.cfg.promoLevel) && covered < g.cfg.minDuration+g.cfg.promoFor:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("holding before full traffic: the data favour a %g× regression over none (likelihood ratio %.3g > %.3g)", g.cfg.promoRatio, promo, g.cfg.promoLevel)
	default:
		v.Outcome = traffic.Pass
		v.Reason = fmt.Sprintf("no regression: e-value %.3g < %.3g over %d candidate requests", rel, relT, primary.cand.Requests)
	}
	g.cfg.logger.Debug("sequential verdict", "candidate", c.Candidate, "stable", c.Stable, "step", c.Step, "outcome", v.Outcome, "reason", v.Reason)
	return v
}

// latencyNumbers adds the latency test's numbers to n: its e-value and
// threshold, the quantiles of both revisions in the primary metrics (in
// milliseconds; −1 without data) and the ratios of the candidate's to the
// stable's.
func (g *Sequential) latencyNumbers(n map[string]float64, st *seqState, e, threshold float64) {
	n["latency_e_value"] = e
	n["latency_threshold"] = threshold
	p := st.last[0]
	cand := Histogram{Bounds: st.lat.bounds, Counts: p.latCand}
	stable := Histogram{Bounds: st.lat.bounds, Counts: p.latStable}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		c, s := ms(cand.Quantile(q.q)), ms(stable.Quantile(q.q))
		n["candidate_"+q.name+"_ms"] = c
		n["stable_"+q.name+"_ms"] = s
		r := -1.0
		if c > 0 && s > 0 {
			r = c / s
		}
		n[q.name+"_ratio"] = r
	}
}

func ms(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return float64(d) / float64(time.Millisecond)
}

func latencySummary(n map[string]float64) string {
	return fmt.Sprintf("p50 %.4g ms vs %.4g ms, p99 %.4g ms vs %.4g ms", n["candidate_p50_ms"], n["stable_p50_ms"], n["candidate_p99_ms"], n["stable_p99_ms"])
}

// baselineGuard is the e-value of "the stable fails more often now than
// in its history" at which the history stops being a baseline.
const baselineGuard = 10

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
