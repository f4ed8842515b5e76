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

// Threshold is a hard SLO gate: each check evaluates the candidate's error
// rate over the latest complete window of [WithInterval] (the newest
// window the metrics fully cover), and fails when the rate is above
// [WithMaxErrorRate] with at least [WithMinRequests] requests. The gate
// fails the rollout once [WithFailureLimit] checks have failed. It is the
// gate of Flagger, Argo Rollouts and CodeDeploy alarms ([FlaggerDefaults],
// [ArgoDefaults], [CodeDeployDefaults]) and the crash-level guard for our
// own rollouts.
//
// A window is evaluated at most once, and a new one only when it lies a
// whole interval after the previous; between windows the gate repeats its
// last verdict. The gate passes a step only on a passing window that lies
// wholly in the step (it starts at or after Check.Since), so a step never
// advances on data that does not yet cover it. Failed checks are counted
// over the whole rollout of a candidate against a stable, and a Fail is
// final.
//
// Threshold is safe for concurrent use. Create one with [NewThreshold].
type Threshold struct {
	m   Metrics
	lat LatencyMetrics // nil unless WithMaxLatency
	cfg config

	mu     sync.Mutex // guards states
	states map[pair]*thrState
}

type thrState struct {
	origin   time.Time // Since of the rollout's first step seen
	step     int
	stepSeen time.Time
	checks   int
	failures int
	failed   bool
	window   [2]time.Time  // the last evaluated window [start, end)
	lastOK   bool          // whether that window's check passed
	last     Count         // the candidate's count in that window
	lastLat  time.Duration // the candidate's latency quantile in that window; −1 without data
}

var _ traffic.Gate = (*Threshold)(nil)

// thresholdLookback bounds how far back a check looks for the newest
// complete window: metrics later than this are treated as missing.
const thresholdLookback = 30 * time.Minute

// NewThreshold returns a Threshold gate reading m. Options:
// [WithInterval], [WithMaxErrorRate], [WithMinRequests],
// [WithFailureLimit], [WithNoDataFails], [WithTrailingWindow], [WithClock], [WithLogger],
// [WithName], or a preset such as [FlaggerDefaults]. Errors wrap
// twostage.ErrInvalid.
func NewThreshold(m Metrics, opts ...Option) (*Threshold, error) {
	if m == nil {
		return nil, fmt.Errorf("analysis: NewThreshold: nil metrics: %w", twostage.ErrInvalid)
	}
	cfg, err := newConfig(opts, forThreshold, "threshold")
	if err != nil {
		return nil, err
	}
	g := &Threshold{m: m, cfg: cfg, states: make(map[pair]*thrState)}
	if cfg.maxLatency > 0 {
		lm, ok := m.(LatencyMetrics)
		if !ok {
			return nil, fmt.Errorf("analysis: NewThreshold: WithMaxLatency needs metrics with latencies (a LatencyMetrics): %w", twostage.ErrInvalid)
		}
		g.lat = lm
	}
	return g, nil
}

// Check judges the step described by c. See [Threshold].
func (g *Threshold) Check(ctx context.Context, c traffic.Check) (traffic.Verdict, error) {
	if c.Candidate == "" {
		return traffic.Verdict{}, fmt.Errorf("analysis: threshold check: the candidate must be named: %w", twostage.ErrInvalid)
	}
	if c.Now.IsZero() {
		c.Now = g.cfg.clock.Now()
	}
	revs := []string{c.Candidate}
	if c.Stable != "" && c.Stable != c.Candidate {
		revs = append(revs, c.Stable)
	}
	end := c.Now
	if !g.cfg.trailing {
		// Find how far the data is complete, then read the newest whole
		// window that ends there.
		probe, err := g.m.Counts(ctx, Query{Revisions: revs, Start: c.Now.Add(-thresholdLookback), End: c.Now})
		if err != nil {
			return traffic.Verdict{Gate: g.cfg.name, Outcome: traffic.Inconclusive, Reason: "metrics unavailable"},
				fmt.Errorf("reading metrics for candidate %q: %w", c.Candidate, err)
		}
		end = probe.Through
	}
	start := end.Add(-g.cfg.interval)

	g.mu.Lock()
	st := g.stateLocked(c)
	fresh := !st.failed && (st.checks == 0 || !start.Before(st.window[1]))
	if !g.cfg.trailing && !end.After(st.origin) {
		// No data of this rollout has arrived yet: there is no window to
		// judge (and no check to count).
		fresh = false
	}
	g.mu.Unlock()

	var got Count
	gotLat := time.Duration(-1)
	if fresh {
		q := Query{Revisions: revs, Start: start, End: end}
		r, err := g.m.Counts(ctx, q)
		var l Latencies
		if err == nil && g.lat != nil {
			l, err = g.lat.Latencies(ctx, q)
		}
		if err != nil {
			return traffic.Verdict{Gate: g.cfg.name, Outcome: traffic.Inconclusive, Reason: "metrics unavailable"},
				fmt.Errorf("reading metrics for candidate %q over [%v, %v): %w", c.Candidate, start, end, err)
		}
		if r.Through.Before(end) && !g.cfg.trailing {
			fresh = false // the source regressed; wait for the next window
		}
		got = r.Revisions[c.Candidate]
		if g.lat != nil {
			gotLat = l.Revisions[c.Candidate].Quantile(g.cfg.latQuantile)
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if fresh && !st.failed && (st.checks == 0 || !start.Before(st.window[1])) && (g.cfg.trailing || end.After(st.origin)) {
		st.checks++
		st.window = [2]time.Time{start, end}
		st.last, st.lastLat = got, gotLat
		noData := got.Requests < max(g.cfg.minRequests, 1)
		st.lastOK = !noData && got.Rate() <= g.cfg.maxErrorRate && gotLat <= g.cfg.maxLatency
		if (noData && g.cfg.noDataFails) || (!noData && !st.lastOK) {
			st.failures++
		}
		if st.failures >= g.cfg.failureLimit {
			st.failed = true
		}
		// A window with no data that does not count as failed is neither.
		if noData && !g.cfg.noDataFails {
			st.lastOK = false
		}
	}
	return g.verdictLocked(c, st), nil
}

func (g *Threshold) stateLocked(c traffic.Check) *thrState {
	k := pair{c.Stable, c.Candidate}
	st := g.states[k]
	if st != nil && !(c.Step < st.step || (c.Step == st.step && c.Step <= 1 && c.Since.After(st.stepSeen))) {
		if c.Step > st.step {
			st.step, st.stepSeen = c.Step, c.Since
		}
		return st
	}
	st = &thrState{origin: c.Since, step: c.Step, stepSeen: c.Since}
	g.states[k] = st
	if len(g.states) > g.cfg.maxTracked {
		for k2 := range g.states {
			if k2 != k {
				delete(g.states, k2)
				break
			}
		}
	}
	return st
}

func (g *Threshold) verdictLocked(c traffic.Check, st *thrState) traffic.Verdict {
	v := traffic.Verdict{
		Gate: g.cfg.name,
		Numbers: map[string]float64{
			"candidate_requests": float64(st.last.Requests),
			"candidate_errors":   float64(st.last.Errors),
			"error_rate":         st.last.Rate(),
			"max_error_rate":     g.cfg.maxErrorRate,
			"failed_checks":      float64(st.failures),
			"failure_limit":      float64(g.cfg.failureLimit),
			"checks":             float64(st.checks),
			"window_seconds":     g.cfg.interval.Seconds(),
		},
	}
	if st.checks > 0 {
		v.Numbers["lag_seconds"] = c.Now.Sub(st.window[1]).Seconds()
	}
	if g.lat != nil {
		v.Numbers["latency_quantile"] = g.cfg.latQuantile
		v.Numbers["latency_ms"] = ms(st.lastLat)
		v.Numbers["max_latency_ms"] = ms(g.cfg.maxLatency)
	}
	noData := st.last.Requests < max(g.cfg.minRequests, 1)
	switch {
	case st.failed:
		v.Outcome = traffic.Fail
		v.Reason = fmt.Sprintf("%d of %d allowed failed checks; last window: %s", st.failures, g.cfg.failureLimit, g.describe(st))
	case st.checks == 0:
		v.Outcome = traffic.Inconclusive
		v.Reason = "no complete window yet"
	case !st.lastOK && noData:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("low traffic: %d requests in the last window, want %d", st.last.Requests, max(g.cfg.minRequests, 1))
		if g.cfg.noDataFails {
			v.Reason = fmt.Sprintf("no data counts as a failed check (%d of %d): %d requests in the last window", st.failures, g.cfg.failureLimit, st.last.Requests)
		}
	case !st.lastOK:
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("check failed (%d of %d allowed): %s", st.failures, g.cfg.failureLimit, g.describe(st))
	case st.window[0].Before(c.Since):
		v.Outcome = traffic.Inconclusive
		v.Reason = fmt.Sprintf("waiting for a window of this step: the last one started %v before it", c.Since.Sub(st.window[0]).Round(time.Second))
	default:
		v.Outcome = traffic.Pass
		v.Reason = "check passed: " + g.describe(st)
	}
	g.cfg.logger.Debug("threshold verdict", "candidate", c.Candidate, "step", c.Step, "outcome", v.Outcome, "reason", v.Reason)
	return v
}

func (g *Threshold) describe(st *thrState) string {
	c := st.last
	rate := math.NaN()
	if c.Requests > 0 {
		rate = c.Rate()
	}
	s := fmt.Sprintf("error rate %.4g (%d/%d) vs maximum %.4g", rate, c.Errors, c.Requests, g.cfg.maxErrorRate)
	if g.lat != nil {
		s += fmt.Sprintf("; p%g latency %v vs maximum %v", 100*g.cfg.latQuantile, st.lastLat.Round(time.Millisecond), g.cfg.maxLatency)
	}
	return s
}

// FlaggerDefaults configures a [Threshold] gate like Flagger's documented
// canary analysis example: a check every minute (interval: 1m), a request
// success rate of at least 99% (error rate at most 1%), rollback after 10
// failed checks (threshold: 10), and a check with no data counts as failed
// (Flagger reports "no values found" as a failed check). Flagger's traffic
// schedule (stepWeight 2 up to maxWeight 50) is a traffic plan, not a gate
// setting; see examples/rolloutsim.
func FlaggerDefaults() []Option {
	return []Option{
		WithName("flagger"),
		WithInterval(time.Minute),
		WithMaxErrorRate(0.01),
		WithFailureLimit(10),
		WithMinRequests(1),
		WithNoDataFails(true),
	}
}

// ArgoDefaults configures a [Threshold] gate like Argo Rollouts' documented
// analysis example: a measurement every 5 minutes (interval: 5m), success
// when the success rate is at least 95% (error rate at most 5%), and the
// analysis fails when more than failureLimit: 3 measurements failed, that
// is at the fourth ([WithFailureLimit](4)). A measurement with no data is
// an error in Argo, not a failure; here it is Inconclusive.
func ArgoDefaults() []Option {
	return []Option{
		WithName("argo"),
		WithInterval(5 * time.Minute),
		WithMaxErrorRate(0.05),
		WithFailureLimit(4),
		WithMinRequests(1),
	}
}

// CodeDeployDefaults configures a [Threshold] gate like a CodeDeploy
// deployment watched by a CloudWatch alarm on error rate > 1% over one
// 1-minute period (one datapoint to alarm): any breaching minute stops the
// deployment and rolls back. Missing data leaves the alarm as it was
// (treatMissingData: missing), so no data is Inconclusive.
func CodeDeployDefaults() []Option {
	return []Option{
		WithName("codedeploy"),
		WithInterval(time.Minute),
		WithMaxErrorRate(0.01),
		WithFailureLimit(1),
		WithMinRequests(1),
	}
}

// FlaggerRequestDuration configures a [Threshold] gate like Flagger's
// documented canary analysis with both of its built-in metrics:
// [FlaggerDefaults] (request-success-rate ≥ 99%) plus request-duration,
// the p99 latency over the 1-minute interval at most 500 ms (thresholdRange
// max: 500); a check fails when either metric does, and 10 failed checks
// roll back. The metrics must be a [LatencyMetrics].
func FlaggerRequestDuration() []Option {
	return append(FlaggerDefaults(), WithName("flagger-duration"), WithMaxLatency(0.99, 500*time.Millisecond))
}

// ArgoLatency configures a [Threshold] gate like an Argo Rollouts analysis
// of latency as its users write it: a measurement every 5 minutes of the
// p95 latency against max, failing the analysis at the fourth failed
// measurement (failureLimit: 3), with [ArgoDefaults]' success-rate check.
// Argo documents no latency default; examples/rolloutsim uses 300 ms, 12%
// above the simulated stable's p95. The metrics must be a
// [LatencyMetrics].
func ArgoLatency(max time.Duration) []Option {
	return append(ArgoDefaults(), WithName("argo-latency"), WithMaxLatency(0.95, max))
}
