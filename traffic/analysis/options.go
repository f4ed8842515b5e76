package analysis

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/twostage/twostage"
)

// Option configures a gate or the probe of this package ([NewSequential],
// [NewThreshold], [NewProbe]). Each option's comment says which of them
// reads it; a constructor given an option it does not use refuses it with
// an error wrapping twostage.ErrInvalid, rather than ignore it.
type Option func(*config)

// user is a constructor of this package, as a bit of a set.
type user uint8

const (
	forSequential user = 1 << iota
	forThreshold
	forProbe
)

func (u user) String() string {
	switch u {
	case forSequential:
		return "NewSequential"
	case forThreshold:
		return "NewThreshold"
	case forProbe:
		return "NewProbe"
	}
	return "a constructor"
}

// names lists the constructors of set, for messages.
func (set user) names() string {
	var s []string
	for u := forSequential; u <= forProbe; u <<= 1 {
		if set&u != 0 {
			s = append(s, u.String())
		}
	}
	return strings.Join(s, " and ")
}

type config struct {
	// building is the constructor the options are applied for; refused
	// collects the options it does not use.
	building user
	refused  []string

	clock  twostage.Clock
	logger *slog.Logger

	// Sequential.
	alpha       float64
	crashShare  float64
	latShare    float64
	crashFloor  float64
	crashFactor float64
	histAlpha   float64
	baseline    time.Duration
	minDuration time.Duration
	minRequests int64
	holdAbove   float64
	holdFor     time.Duration
	promoRatio  float64
	promoLevel  float64
	promoFor    time.Duration
	probes      []Metrics
	minRatio    float64
	maxRatio    float64
	gridPoints  int
	ratioDecay  float64
	maxTracked  int
	name        string

	// Threshold.
	interval     time.Duration
	maxErrorRate float64
	failureLimit int
	noDataFails  bool
	trailing     bool
	latQuantile  float64
	maxLatency   time.Duration // 0: no latency check

	// Probe.
	client      *http.Client
	probeRate   float64
	probeShare  float64
	probePath   string
	probeTokens oauth2.TokenSource
}

// use records that the option named name, read by the constructors in
// set, is being applied, and reports whether the constructor being built
// reads it.
func (c *config) use(name string, set user) bool {
	if c.building&set != 0 {
		return true
	}
	c.refused = append(c.refused, fmt.Sprintf("%s is an option of %s", name, set.names()))
	return false
}

func defaultConfig() config {
	return config{
		clock:        twostage.SystemClock(),
		logger:       slog.New(slog.DiscardHandler),
		alpha:        0.06,
		crashShare:   -1, // 0.4 with a latency test, else 0.5 (NewSequential)
		latShare:     1.0 / 6,
		crashFloor:   0.01,
		crashFactor:  5,
		histAlpha:    0.005,
		baseline:     24 * time.Hour,
		minDuration:  5 * time.Minute,
		minRequests:  100,
		holdAbove:    1,
		holdFor:      10 * time.Minute,
		promoRatio:   2,
		promoLevel:   0.1,
		promoFor:     20 * time.Minute,
		minRatio:     1.5,
		maxRatio:     100,
		gridPoints:   16,
		maxTracked:   256,
		interval:     time.Minute,
		maxErrorRate: 0.01,
		failureLimit: 1,
		client:       &http.Client{Timeout: 10 * time.Second},
		probeRate:    2,
		probeShare:   0.9,
		probePath:    "/",
	}
}

func (c *config) validate() error {
	if len(c.refused) > 0 {
		return fmt.Errorf("analysis: %s does not use %s: %w", c.building, strings.Join(c.refused, "; "), twostage.ErrInvalid)
	}
	switch {
	case !(c.alpha > 0 && c.alpha < 1):
		return fmt.Errorf("analysis: alpha %v is not in (0, 1); use for example 0.01: %w", c.alpha, twostage.ErrInvalid)
	case !(c.crashShare == -1 || c.crashShare >= 0 && c.crashShare < 1):
		return fmt.Errorf("analysis: crash share of alpha %v is not in [0, 1): %w", c.crashShare, twostage.ErrInvalid)
	case !(c.latShare >= 0 && c.latShare < 1 && max(c.crashShare, 0.25)+c.latShare < 1):
		return fmt.Errorf("analysis: latency share of alpha %v is not in [0, 1), or with the crash share %v leaves nothing for the relative test: %w", c.latShare, c.crashShare, twostage.ErrInvalid)
	case !(c.crashFloor > 0 && c.crashFloor < 1):
		return fmt.Errorf("analysis: crash floor %v is not in (0, 1); use for example 0.01: %w", c.crashFloor, twostage.ErrInvalid)
	case c.crashFactor < 1:
		return fmt.Errorf("analysis: crash factor %v is below 1: %w", c.crashFactor, twostage.ErrInvalid)
	case !(c.histAlpha >= 0 && c.histAlpha < 1):
		return fmt.Errorf("analysis: historical test alpha %v is not in [0, 1); use 0 to turn it off: %w", c.histAlpha, twostage.ErrInvalid)
	case c.baseline < 0:
		return fmt.Errorf("analysis: negative baseline %v: %w", c.baseline, twostage.ErrInvalid)
	case c.minDuration < 0:
		return fmt.Errorf("analysis: negative minimum duration %v: %w", c.minDuration, twostage.ErrInvalid)
	case c.holdFor < 0:
		return fmt.Errorf("analysis: negative hold %v: %w", c.holdFor, twostage.ErrInvalid)
	case !(c.promoRatio > 1) || !(c.promoLevel > 0) || c.promoFor < 0:
		return fmt.Errorf("analysis: promotion hold ratio %v, level %v, duration %v: want a ratio above 1, a positive level and a duration of at least 0: %w", c.promoRatio, c.promoLevel, c.promoFor, twostage.ErrInvalid)
	case c.minRequests < 0:
		return fmt.Errorf("analysis: negative minimum requests %d: %w", c.minRequests, twostage.ErrInvalid)
	case !(c.minRatio > 1 && c.maxRatio > c.minRatio):
		return fmt.Errorf("analysis: regression ratios %v..%v must satisfy 1 < min < max: %w", c.minRatio, c.maxRatio, twostage.ErrInvalid)
	case !(c.ratioDecay >= 0 && c.ratioDecay <= 10):
		return fmt.Errorf("analysis: ratio decay %v is not in [0, 10]: %w", c.ratioDecay, twostage.ErrInvalid)
	case c.gridPoints < 1:
		return fmt.Errorf("analysis: %d grid points, want at least 1: %w", c.gridPoints, twostage.ErrInvalid)
	case c.interval <= 0:
		return fmt.Errorf("analysis: interval %v is not positive: %w", c.interval, twostage.ErrInvalid)
	case !(c.maxErrorRate >= 0 && c.maxErrorRate < 1):
		return fmt.Errorf("analysis: maximum error rate %v is not in [0, 1): %w", c.maxErrorRate, twostage.ErrInvalid)
	case c.maxLatency < 0 || c.maxLatency > 0 && !(c.latQuantile > 0 && c.latQuantile < 1):
		return fmt.Errorf("analysis: latency quantile %v and maximum %v: want a quantile in (0, 1) and a positive maximum: %w", c.latQuantile, c.maxLatency, twostage.ErrInvalid)
	case c.failureLimit < 1:
		return fmt.Errorf("analysis: failure limit %d is below 1: %w", c.failureLimit, twostage.ErrInvalid)
	case !(c.probeRate > 0 && c.probeRate <= 100):
		return fmt.Errorf("analysis: probe rate %v req/s is not in (0, 100]; the default is 2: %w", c.probeRate, twostage.ErrInvalid)
	case !(c.probeShare > 0 && c.probeShare < 1):
		return fmt.Errorf("analysis: probe candidate share %v is not in (0, 1): %w", c.probeShare, twostage.ErrInvalid)
	}
	for i, p := range c.probes {
		if p == nil {
			return fmt.Errorf("analysis: probe %d is nil: %w", i+1, twostage.ErrInvalid)
		}
	}
	return nil
}

// WithClock sets the clock the gates read when a Check carries no Now, and
// the clock that paces and stamps a [Probe]'s requests. The default is
// [twostage.SystemClock]. A nil c keeps the default. Read by every
// constructor.
func WithClock(c twostage.Clock) Option {
	return func(cfg *config) {
		if cfg.use("WithClock", forSequential|forThreshold|forProbe) {
			if c != nil {
				cfg.clock = c
			}
		}
	}
}

// WithLogger sets the logger that records every verdict of a gate at debug
// level, and a [Probe]'s failed requests (debug) and tokens that cannot be
// had (warn). The default discards everything. A nil l keeps the default.
// Read by every constructor.
func WithLogger(l *slog.Logger) Option {
	return func(cfg *config) {
		if cfg.use("WithLogger", forSequential|forThreshold|forProbe) {
			if l != nil {
				cfg.logger = l
			}
		}
	}
}

// WithName sets the Verdict.Gate name of a [Sequential] or [Threshold]
// gate. The defaults are "sequential" and "threshold".
func WithName(name string) Option {
	return func(c *config) {
		if c.use("WithName", forSequential|forThreshold) {
			c.name = name
		}
	}
}

// WithAlpha sets the false-rollback budget of a [Sequential] gate for one
// rollout: the probability that a candidate no worse than the stable is
// rolled back, however often the gate is asked. The step fails once the
// evidence (an e-value) exceeds 1/alpha, split between the relative and
// the tests (see [WithCrashTest] and [WithLatencyTest]). The default is
// 0.06: 0.026 for the relative test, 0.024 for the crash test and 0.01 for
// the latency test. Ville's inequality is conservative with discrete
// data, and with traffic.DefaultPlan the simulated false-rollback rate,
// historical test included, is 1.5–2% at 20 to 2000 requests per second
// (examples/rolloutsim, where the relative and the latency test spend most
// of it and healthy releases leave the crash test's share almost unused),
// within the 2% the design asks for, while a 20× regression at 5% of 200
// req/s is rolled back in a median 11–13 s.
func WithAlpha(alpha float64) Option {
	return func(c *config) {
		if c.use("WithAlpha", forSequential) {
			c.alpha = alpha
		}
	}
}

// WithCrashTest configures the crash test of a [Sequential] gate: share is
// the part of alpha spent on it (0 turns it off), and the null hypothesis
// is that the candidate's error rate is at most max(floor, factor × the
// stable's error rate observed so far). The defaults are share 0.4 when
// the gate runs a latency test ([WithLatencyTest]; the relative test
// keeps 1 − 0.4 − 1/6 of alpha) and 1/2 when it does not, floor 0.01 and
// factor 5: a candidate that fails many more requests than
// 1% and than five times the stable's rate is rolled back after a handful
// of requests — with a [Probe], before the (delayed) metrics show
// anything. While the stable's rate is unknown (no data yet) the ceiling
// is the floor alone: raise it above the service's usual error rate when
// that rate is high, or a healthy candidate may be taken for a crashing
// one. With a known baseline ([WithBaseline]) the rate is known from the
// first look: the ceiling is factor × the history's upper bound on it
// (see [WithHistoricalTest]), at least 0.1% rather than the floor, so at a
// 0.1% baseline a candidate failing 20% of its requests is rolled back
// after about three errors.
func WithCrashTest(share, floor, factor float64) Option {
	return func(c *config) {
		if c.use("WithCrashTest", forSequential) {
			c.crashShare, c.crashFloor, c.crashFactor = share, floor, factor
		}
	}
}

// WithLatencyTest sets the part of a [Sequential] gate's alpha spent on
// its latency test, which fails a step once the candidate's latencies are
// shown to be worse than the stable's, a slowdown of the whole
// distribution or a heavier tail (see the package documentation). It runs
// when the primary metrics or a probe ([WithProbe]) are a
// [LatencyMetrics]; the three tests (relative, crash, latency) share
// alpha, so a candidate no worse than the stable is rolled back with
// probability at most alpha in all. The default is 1/6 (α 0.01 of the
// default 0.06; the crash test's default share is then 0.4 rather than
// 1/2); 0 turns the test off.
func WithLatencyTest(share float64) Option {
	return func(c *config) {
		if c.use("WithLatencyTest", forSequential) {
			c.latShare = share
		}
	}
}

// WithHistoricalTest sets the false-rollback budget of the historical test
// of a [Sequential] gate, which compares the candidate's error rate with
// the stable's measured earlier: with a known baseline ([WithBaseline]) on
// every look, against the stable's history before the rollout; without
// one only at 100% (the watch of traffic.WithWatch), when there is no
// live stable revision left to compare with, against the stable's rate
// during the earlier steps of the same rollout. It fails a step once its
// e-value reaches 1/alpha (before 100%, its e-value over 1/alpha adds to
// the other tests' evidence); alpha 0 turns it off. The budget comes on
// top of [WithAlpha]: a rollout of a candidate no worse than the stable
// is rolled back with probability at most alpha + [WithAlpha]'s (+ 0.001
// with a baseline, below), however often the gate is asked. The default
// is 0.005: with traffic.WithWatch(30 * time.Minute) the simulated
// false-rollback rate of traffic.DefaultPlan stays within 2% at 20 to
// 2000 requests per second, and a 2× regression at 200 req/s costs users
// a mean 14.5 excess errors (examples/rolloutsim).
//
// The statistics. Model the errors as Poisson counts (for binomial errors
// of rate p the Poisson likelihood ratio of a rate r to p has expectation
// (1−p+r)^n ≤ e^((r−p)n) ≤ its normaliser, so the ratios below stay
// supermartingales), the candidate's with nc requests and ec errors over
// the whole rollout, and θ, the ratio of its rate to the stable's,
// log-uniform on 6 points from 1.3 to 5 (small regressions: the relative
// and crash tests prove large ones first).
//
// With a baseline of nb requests and eb errors, the stable's rate is
// bounded above by q̂, the Chernoff upper confidence bound at level 0.001
// (the λ/nb with λ − eb − eb·ln(λ/eb) = ln 1000; a day of 200 req/s at
// 0.1% puts it 2.5% above eb/nb), and the e-value is the one-sample
// mixture E = mean over θ of θ^ec · e^(−(θ−1)·q̂·nc), nc and ec from the
// primary metrics only (the history holds the users' requests, not a
// probe's, whose path may fail at another rate): a nonnegative
// supermartingale while the candidate fails at most q̂, so by Ville's
// inequality it reaches 1/alpha with probability at most alpha, plus the
// 0.001 that the stable's rate is above q̂. Against a known rate it gains
// the most evidence per excess error of any test here (at 2×, 0.39 nats,
// against 0.27 for the relative test at 25% of the traffic).
//
// Without a baseline, with the stable's requests and errors ns, es during
// the rollout:
//
//	E = ∫∫ L(q, θq) dΓ(q) dθ / sup{ L(s, c) : c ≤ s }
//
// with a gamma prior Γ on q (exponential, mean 1%); the integral over q
// has a closed form. For every null rates (s, c) with c ≤ s the numerator
// divided by L(s, c) is a nonnegative supermartingale of mean at most 1,
// and E is smaller, so E reaches 1/alpha with probability at most alpha
// at any look; the uncertainty of the stable's rate is paid for by the
// mixture over q (about 4 nats at q = 0.1%).
//
// A historical baseline assumes a stationary error rate: the stable's
// rate, measured earlier, stands for what it would be now. Time-of-day
// effects (a nightly batch, a peak of unusual clients) raise every
// revision's error rate alike and can then roll a healthy candidate back;
// the relative test, which compares the two revisions in the same
// seconds, does not have this weakness. That is why a baseline is guarded
// ([WithBaseline]) and the watch (traffic.WithWatch) has a bounded
// duration.
func WithHistoricalTest(alpha float64) Option {
	return func(c *config) {
		if c.use("WithHistoricalTest", forSequential) {
			c.histAlpha = alpha
		}
	}
}

// WithBaseline sets how much of the stable's history before the rollout a
// [Sequential] gate reads from its primary metrics, once per rollout, as a
// known baseline: from the stable's requests and errors in [start − d,
// start) the historical test ([WithHistoricalTest]) bounds the stable's
// error rate and judges every look against that bound, not only at 100%,
// within its own budget.
// A day of a 200 req/s service pins an error rate of 0.1% to about ±1%.
// A baseline assumes the error rate is stationary, so it is guarded: while
// the rollout runs, the stable's own errors are tested against its history
// with the same statistic, and once that e-value reaches 10 (the stable
// fails more often now than it did: a time-of-day effect, an incident
// elsewhere) the history is dropped for the rest of the rollout. The guard
// sees the stable's traffic only before 100%; during a watch at 100% the
// bounded watch is what limits the risk, as for the historical test
// without a baseline. The default is 24 hours; 0 turns it off. Sources
// without history (a fresh [Script]) are unaffected.
func WithBaseline(d time.Duration) Option {
	return func(c *config) {
		if c.use("WithBaseline", forSequential) {
			c.baseline = d
		}
	}
}

// WithMinDuration sets how much of a step the primary metrics must cover
// before a [Sequential] gate may pass it: the data must be complete through
// Since + d. Set it to the step's bake. The default is 5 minutes, the bake
// of traffic.DefaultPlan.
func WithMinDuration(d time.Duration) Option {
	return func(c *config) {
		if c.use("WithMinDuration", forSequential) {
			c.minDuration = d
		}
	}
}

// WithMinRequests sets the fewest requests the candidate must have served
// in the primary metrics, over the whole rollout so far, before a
// [Sequential] gate may pass a step; with fewer, the verdict is
// Inconclusive (low traffic is never a failure). For a [Threshold] gate it
// is the fewest requests in an interval for the check to count; with fewer
// the check has no data. The defaults are 100 ([NewSequential]) and 100
// ([NewThreshold]).
func WithMinRequests(n int64) Option {
	return func(c *config) {
		if c.use("WithMinRequests", forSequential|forThreshold) {
			c.minRequests = n
		}
	}
}

// WithHold sets the suspicion level of a [Sequential] gate: while the
// e-value is above e (but below the failure threshold), the gate keeps the
// step baking (Inconclusive) instead of passing it, for at most d beyond
// [WithMinDuration], so that a slight regression that is not yet proven is
// watched longer at low exposure rather than promoted. With no regression
// the e-value drifts down, so the hold usually ends early; the bound d
// keeps a single unlucky error at very low traffic from holding a step
// until the rollout gives up. The defaults are e = 1 and d = 10 minutes;
// e = +Inf or d = 0 turns holding off.
func WithHold(e float64, d time.Duration) Option {
	return func(c *config) {
		if c.use("WithHold", forSequential) {
			c.holdAbove, c.holdFor = e, d
		}
	}
}

// WithPromotionHold sets the evidence a [Sequential] gate asks for before
// the candidate takes all traffic (the step whose Check.Next is 100): the
// likelihood ratio of a regression of the given ratio (candidate error
// rate over the stable's) against none must be at most level, else the
// step keeps baking (Inconclusive) for at most d beyond [WithMinDuration].
// It never fails a step, so it spends no false-rollback budget; it holds a
// healthy candidate only when the traffic so far should have cleared it,
// that is while a candidate no worse than the stable would be expected to
// have driven the ratio below level (low traffic, where the data cannot
// tell, does not hold); and a candidate that does regress by that much is
// then held where it is until the relative test rolls it back, instead of
// serving everyone. The defaults are ratio 2, level 0.1 and 20 minutes:
// in examples/rolloutsim, at 200 req/s, it takes the mean excess of bad
// requests of a 2× regression from 31.7 to 22.2 while the median time to
// 100% of a healthy release stays 600 s (its p90 grows from 600 to
// 786 s). d = 0 turns it off. Keep d shorter than the step's MaxWait
// (traffic.Step; 30 minutes in traffic.DefaultPlan): a step still
// Inconclusive then pauses the rollout where it is.
func WithPromotionHold(ratio, level float64, d time.Duration) Option {
	return func(c *config) {
		if c.use("WithPromotionHold", forSequential) {
			c.promoRatio, c.promoLevel, c.promoFor = ratio, level, d
		}
	}
}

// WithRatios sets the range of regression ratios (candidate error rate over
// stable error rate) the [Sequential] gate's mixture spreads its weight
// over, log-uniformly on n points. The defaults are 1.5 to 100 on 16
// points.
func WithRatios(lo, hi float64, n int) Option {
	return func(c *config) {
		if c.use("WithRatios", forSequential) {
			c.minRatio, c.maxRatio, c.gridPoints = lo, hi, n
		}
	}
}

// WithRatioDecay sets how the [Sequential] gate's mixture weighs the
// regression ratios of [WithRatios]: the prior weight of θ is proportional
// to θ^−k on the log-spaced grid, so k = 0 spreads it evenly in log θ and
// a larger k moves it toward small regressions, which need the most
// evidence, away from large ones, which produce it quickly. The default is
// k = 0: in examples/rolloutsim k = 0.5 to 1 cuts the excess of a 2×
// regression at 200 req/s from 22.2 to 20.1–19.0 but slows a 20× one
// (median 11 → 14–16 s) and, at 2000 req/s, raises the false-rollback
// rate from 0.8% to 2.0–2.2%, the evidence for small ratios being what a
// healthy release also produces by chance when traffic is high.
func WithRatioDecay(k float64) Option {
	return func(c *config) {
		if c.use("WithRatioDecay", forSequential) {
			c.ratioDecay = k
		}
	}
}

// WithProbe adds evidence from an auxiliary source to a [Sequential] gate,
// typically a [Probe], whose requests are not in the primary metrics (wrap
// a primary source that counts them, such as Cloud Monitoring, with
// [Subtract]). Its counts feed the same test, but its
// coverage is not required for passing a step. The default is none.
func WithProbe(m Metrics) Option {
	return func(c *config) {
		if c.use("WithProbe", forSequential) {
			c.probes = append(c.probes, m)
		}
	}
}

// WithInterval sets the length of the window each [Threshold] check
// evaluates, and the least time between checks. The default is 1 minute.
func WithInterval(d time.Duration) Option {
	return func(c *config) {
		if c.use("WithInterval", forThreshold) {
			c.interval = d
		}
	}
}

// WithMaxErrorRate sets the error rate above which a [Threshold] check
// fails. The default is 0.01 (a success rate of at least 99%).
func WithMaxErrorRate(r float64) Option {
	return func(c *config) {
		if c.use("WithMaxErrorRate", forThreshold) {
			c.maxErrorRate = r
		}
	}
}

// WithMaxLatency adds a latency check to a [Threshold] gate: a check also
// fails when the candidate's q-quantile latency over the interval (from
// its latency histogram, interpolated within a bucket) is above max. The
// metrics must then be a [LatencyMetrics]. The default is no latency
// check.
func WithMaxLatency(q float64, max time.Duration) Option {
	return func(c *config) {
		if c.use("WithMaxLatency", forThreshold) {
			c.latQuantile, c.maxLatency = q, max
		}
	}
}

// WithFailureLimit sets how many failed checks make a [Threshold] gate
// fail the rollout (counted over the whole rollout, not reset by a passing
// check). The default is 1.
func WithFailureLimit(n int) Option {
	return func(c *config) {
		if c.use("WithFailureLimit", forThreshold) {
			c.failureLimit = n
		}
	}
}

// WithNoDataFails makes a [Threshold] check with fewer than the minimum
// requests count as failed, as Flagger does ("no values found" is a failed
// check). The default is false: no data is Inconclusive.
func WithNoDataFails(fails bool) Option {
	return func(c *config) {
		if c.use("WithNoDataFails", forThreshold) {
			c.noDataFails = fails
		}
	}
}

// WithTrailingWindow makes each [Threshold] check evaluate the window that
// ends now, [Now − interval, Now), counting whatever data has arrived, as
// Flagger's and Argo's metric queries and CloudWatch alarms do. With
// delayed metrics such a window is partly or wholly empty. The default is
// false: the newest window the metrics fully cover, and no check at all
// until some data of the rollout (from the first Check.Since) has arrived.
func WithTrailingWindow(trailing bool) Option {
	return func(c *config) {
		if c.use("WithTrailingWindow", forThreshold) {
			c.trailing = trailing
		}
	}
}

// WithProbeClient sets the HTTP client of a [Probe]. The default is a
// client with a 10-second timeout. A nil c keeps the default.
func WithProbeClient(c *http.Client) Option {
	return func(cfg *config) {
		if cfg.use("WithProbeClient", forProbe) && c != nil {
			cfg.client = c
		}
	}
}

// WithProbeRate sets the most requests per second a [Probe] sends, to both
// targets together; it sends one request at a time, so slow answers lower
// the rate further. The default is 2.
func WithProbeRate(perSecond float64) Option {
	return func(c *config) {
		if c.use("WithProbeRate", forProbe) {
			c.probeRate = perSecond
		}
	}
}

// WithProbeCandidateShare sets the share of a [Probe]'s requests sent to
// the candidate; the rest go to the stable. The default is 0.9: the stable
// is already well known from its real traffic, the candidate is not.
func WithProbeCandidateShare(share float64) Option {
	return func(c *config) {
		if c.use("WithProbeCandidateShare", forProbe) {
			c.probeShare = share
		}
	}
}

// WithProbePath sets the path (and query) a [Probe] requests on each
// target. The default is "/".
func WithProbePath(path string) Option {
	return func(c *config) {
		if c.use("WithProbePath", forProbe) {
			c.probePath = path
		}
	}
}

// WithProbeTokenSource authenticates every request of a [Probe] with a
// bearer token from ts. A Cloud Run service that requires authentication
// wants a Google-signed ID token whose audience is the service's *.run.app
// URL (or a custom audience set on the service), source:
// https://cloud.google.com/run/docs/configuring/custom-audiences (that a
// revision tag URL accepts that same audience is unverified here). Such a
// source is idtoken.NewTokenSource(ctx, serviceURL) or, with keyless
// credentials, impersonate.IDTokenSource (google.golang.org/api); both put
// the ID token in Token.AccessToken. A request whose token cannot be had is
// not sent and not counted (it says nothing of the revision); the error is
// logged at warn level. Without a token source, a service that refuses the
// probe answers 401 or 403, which counts as a success: the probe then
// carries no signal. The default is none. A nil ts keeps the default.
func WithProbeTokenSource(ts oauth2.TokenSource) Option {
	return func(c *config) {
		if c.use("WithProbeTokenSource", forProbe) && ts != nil {
			c.probeTokens = ts
		}
	}
}

// newConfig applies opts for the constructor u over the defaults, with the
// gate name name, and validates the result.
func newConfig(opts []Option, u user, name string) (config, error) {
	c := defaultConfig()
	c.building = u
	c.name = name
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c, c.validate()
}
