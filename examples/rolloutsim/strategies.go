package main

import (
	"fmt"
	"math"
	"time"

	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// Strategies returns every strategy of the comparison, in table order.
//
// The other tools' gates query the window that ends now, as their metric
// queries do (Flagger's and Argo's PromQL over [interval], a CloudWatch
// alarm's latest period): with delayed metrics that window is partly or
// wholly empty, and each tool treats the missing data its own way
// (Flagger: a failed check; Argo: judged on what arrived; CloudWatch:
// missing data keeps the alarm OK). Ours waits for complete data instead.
func Strategies(grid string) []func() Strategy {
	if grid == "latency" {
		return []func() Strategy{
			func() Strategy { return &ours{interval: 5 * time.Second} },
			func() Strategy { return &flagger{threshold: 10, latency: true} },
			func() Strategy { return &flagger{threshold: 1, latency: true} },
			func() Strategy { return &argo{latency: 300 * time.Millisecond} },
			func() Strategy { return &kayenta{alpha: 0.05} },
		}
	}
	return []func() Strategy{
		func() Strategy { return &ours{interval: 5 * time.Second} },
		func() Strategy { return &flagger{threshold: 10} },
		func() Strategy { return &flagger{threshold: 1} },
		func() Strategy { return &argo{} },
		func() Strategy { return &codeDeploy{} },
		func() Strategy { return &fixedBinomial{alpha: 0.01} },
		func() Strategy { return &sprt{alpha: 0.05, beta: 0.05} },
	}
}

// flagger is Flagger's documented canary analysis: every minute a check
// (success rate ≥ 99%, no data fails); a passing check raises the weight by
// stepWeight 2 up to maxWeight 50, then promotes; threshold failed checks
// roll back.
type flagger struct {
	threshold int
	latency   bool // request-duration too (analysis.FlaggerRequestDuration)
	env       *Env
	gate      *analysis.Threshold
	weight    int
	since     int
	checks    int
}

func (s *flagger) Name() string {
	d := ""
	if s.latency {
		d = ", request-duration p99 ≤ 500 ms"
	}
	if s.threshold == 10 {
		return "Flagger docs example (threshold 10" + d + ")"
	}
	return "Flagger, threshold 1" + d
}

func (*flagger) Probe(Params) float64 { return 0 }

func (s *flagger) UsesLatency() bool { return s.latency }

// trailing says whether the tools read the window ending now (Params.Window).
func trailing(env *Env) bool { return env.Params.Window != "arrived" }

func (s *flagger) Start(env *Env) {
	s.env = env
	preset := analysis.FlaggerDefaults()
	if s.latency {
		preset = analysis.FlaggerRequestDuration()
	}
	g, err := analysis.NewThreshold(env.Metrics, append(preset, analysis.WithFailureLimit(s.threshold), analysis.WithTrailingWindow(trailing(env)))...)
	if err != nil {
		panic(err)
	}
	s.gate, s.weight, s.since, s.checks = g, 2, 0, 0
}

func (s *flagger) Decide(t int) (float64, bool) {
	if t == 0 || t%60 != 0 {
		return float64(s.weight) / 100, false
	}
	s.checks++
	switch gateCheck(s.gate, s.checks, s.weight, s.since, t) {
	case traffic.Fail:
		return 0, true
	case traffic.Pass:
		if s.weight >= 50 {
			return 1, false
		}
		s.weight += 2
		s.since = t
	}
	return float64(s.weight) / 100, false
}

// argo is Argo Rollouts' documented canary: 20%, 40%, 60%, 80% for 10
// minutes each, then 100%; a background analysis from the 40% step
// measures every 5 minutes (success rate ≥ 95%) and fails the rollout after
// more than failureLimit 3 failed measurements. Steps advance by time, not
// by the analysis.
type argo struct {
	gate    *analysis.Threshold
	latency time.Duration // p95 maximum (analysis.ArgoLatency); 0: none
}

func (s *argo) Name() string {
	if s.latency > 0 {
		return fmt.Sprintf("Argo-style p95 ≤ %v every 5 min", s.latency)
	}
	return "Argo Rollouts docs example"
}
func (*argo) Probe(Params) float64 { return 0 }
func (s *argo) UsesLatency() bool  { return s.latency > 0 }

func (s *argo) Start(env *Env) {
	preset := analysis.ArgoDefaults()
	if s.latency > 0 {
		preset = analysis.ArgoLatency(s.latency)
	}
	g, err := analysis.NewThreshold(env.Metrics, append(preset, analysis.WithTrailingWindow(trailing(env)))...)
	if err != nil {
		panic(err)
	}
	s.gate = g
}

func (s *argo) Decide(t int) (float64, bool) {
	step := t / 600
	if step >= 4 {
		return 1, false
	}
	if step >= 1 && (t-600)%300 == 0 {
		if gateCheck(s.gate, step+1, 20*(step+1), 600, t) == traffic.Fail {
			return 0, true
		}
	}
	return 0.2 * float64(step+1), false
}

// codeDeploy is CodeDeploy's Canary10Percent5Minutes: 10% for 5 minutes,
// then 100%, watched by a CloudWatch alarm on the error rate > 1% over
// 1-minute periods (one breaching datapoint alarms and rolls back).
type codeDeploy struct {
	gate *analysis.Threshold
}

func (*codeDeploy) Name() string         { return "CodeDeploy Canary10Percent5Minutes + 1% alarm" }
func (*codeDeploy) Probe(Params) float64 { return 0 }

func (s *codeDeploy) Start(env *Env) {
	g, err := analysis.NewThreshold(env.Metrics, append(analysis.CodeDeployDefaults(), analysis.WithTrailingWindow(trailing(env)))...)
	if err != nil {
		panic(err)
	}
	s.gate = g
}

func (s *codeDeploy) Decide(t int) (float64, bool) {
	if t > 0 && t%60 == 0 {
		if gateCheck(s.gate, 1, 10, 0, t) == traffic.Fail {
			return 0, true
		}
	}
	if t >= 300 {
		return 1, false
	}
	return 0.1, false
}

// fixedBinomial runs 5% for 10 minutes, then 25% for 10 minutes, and at the
// end of each (once the metrics cover it) tests the candidate's share of
// the step's errors against its share of requests, one-sided binomial at
// level alpha.
type fixedBinomial struct {
	alpha float64
	env   *Env
	step  int
	since int
}

func (*fixedBinomial) Name() string         { return "fixed-horizon binomial, 5% → 25%" }
func (*fixedBinomial) Probe(Params) float64 { return 0 }

func (s *fixedBinomial) Start(env *Env) { s.env, s.step, s.since = env, 0, 0 }

func (s *fixedBinomial) Decide(t int) (float64, bool) {
	shares := []float64{0.05, 0.25}
	delay := int(s.env.Cell.Delay / time.Second)
	if t >= s.since+600+delay {
		m := s.env.Metrics
		c := m.cand[s.since+600].Sub(m.cand[s.since])
		st := m.stab[s.since+600].Sub(m.stab[s.since])
		if binomialTail(c, st) <= s.alpha {
			return 0, true
		}
		s.step++
		s.since = t
		if s.step == 2 {
			return 1, false
		}
	}
	return shares[s.step], false
}

// binomialTail is P(X ≥ candidate errors) for X ~ Bin(all errors, π), π
// the candidate's share of requests.
func binomialTail(c, st analysis.Count) float64 {
	n := c.Errors + st.Errors
	if n == 0 || c.Requests == 0 || st.Requests == 0 {
		return 1
	}
	pi := float64(c.Requests) / float64(c.Requests+st.Requests)
	p := 0.0
	for k := c.Errors; k <= n; k++ {
		lg := lgamma(float64(n+1)) - lgamma(float64(k+1)) - lgamma(float64(n-k+1))
		p += math.Exp(lg + float64(k)*math.Log(pi) + float64(n-k)*math.Log1p(-pi))
	}
	return p
}

func lgamma(x float64) float64 { v, _ := math.Lgamma(x); return v }

// sprt is Wald's sequential probability ratio test with the true rates: on
// the candidate's requests, H0 error rate = the baseline against H1 = the
// true bad rate (for a healthy release, the smallest bad rate of the grid),
// α = β = 0.05, per step of 5% and 25% with no bake, looking every second.
// It is the statistical lower bound for a test that knows what it looks
// for; it is not a usable strategy.
type sprt struct {
	alpha, beta float64
	env         *Env
	step        int
	since       int
	llr         float64
	seen        int // seconds of data consumed
}

func (*sprt) Name() string         { return "Wald SPRT with the true rates" }
func (*sprt) Probe(Params) float64 { return 0 }

func (s *sprt) Start(env *Env) { s.env, s.step, s.since, s.llr, s.seen = env, 0, 0, 0, 0 }

func (s *sprt) Decide(t int) (float64, bool) {
	shares := []float64{0.05, 0.25}
	p0 := s.env.Params.Baseline
	p1 := s.env.TrueRate
	if p1 <= p0 {
		p1 = s.env.BadRates[0]
	}
	p1 = math.Min(p1, 1-1e-9) // a certain failure still needs finite ratios
	upper, lower := math.Log((1-s.beta)/s.alpha), math.Log(s.beta/(1-s.alpha))
	visible := min(t-int(s.env.Cell.Delay/time.Second), len(s.env.Metrics.cand)-1)
	for ; s.seen < visible; s.seen++ {
		if s.seen < s.since {
			continue
		}
		m := s.env.Metrics
		c := m.cand[s.seen+1].Sub(m.cand[s.seen])
		s.llr += float64(c.Errors)*math.Log(p1/p0) + float64(c.Requests-c.Errors)*math.Log((1-p1)/(1-p0))
		if s.llr >= upper {
			return 0, true
		}
		if s.llr <= lower {
			s.step++
			s.since, s.llr = t, 0
			s.seen = t
			if s.step == 2 {
				return 1, false
			}
			break
		}
	}
	return shares[s.step], false
}

// kayenta is a Kayenta-style canary judgement: 5% for 10 minutes, then 25%
// for 10 minutes, then 100%; at the end of each step (once the metrics
// cover it) the step's latencies of the candidate and the stable are
// compared with a one-sided Mann-Whitney test (ties within a bucket), and
// the release is rolled back when the candidate is slower at level alpha.
type kayenta struct {
	alpha float64
	env   *Env
	step  int
	since int
}

func (s *kayenta) Name() string {
	return fmt.Sprintf("Kayenta-style Mann-Whitney at step ends (α %g), 5%% → 25%%", s.alpha)
}
func (*kayenta) Probe(Params) float64 { return 0 }
func (*kayenta) UsesLatency() bool    { return true }

func (s *kayenta) Start(env *Env) { s.env, s.step, s.since = env, 0, 0 }

func (s *kayenta) Decide(t int) (float64, bool) {
	shares := []float64{0.05, 0.25}
	delay := int(s.env.Cell.Delay / time.Second)
	if t >= s.since+600+delay {
		m := s.env.Metrics
		c := subHist(m.lcand[s.since+600], m.lcand[s.since])
		st := subHist(m.lstab[s.since+600], m.lstab[s.since])
		if mannWhitneyP(c, st) <= s.alpha {
			return 0, true
		}
		s.step++
		s.since = t
		if s.step == 2 {
			return 1, false
		}
	}
	return shares[s.step], false
}

func subHist(a, b []int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i]
		if i < len(b) {
			out[i] -= b[i]
		}
	}
	return out
}

// mannWhitneyP is the one-sided p-value of the Mann-Whitney U test that the
// candidate (counts c per bucket) is slower than the stable (s), with
// mid-ranks for ties within a bucket and the normal approximation with
// the tie correction.
func mannWhitneyP(c, s []int64) float64 {
	var nc, ns, below, ties float64
	var u float64
	for k := 0; k < max(len(c), len(s)); k++ {
		ck, sk := float64(at(c, k)), float64(at(s, k))
		u += ck * (below + sk/2)
		below += sk
		nc += ck
		ns += sk
		t := ck + sk
		ties += t*t*t - t
	}
	n := nc + ns
	if nc == 0 || ns == 0 || n < 2 {
		return 1
	}
	v := nc * ns / 12 * ((n + 1) - ties/(n*(n-1)))
	if v <= 0 {
		return 1
	}
	z := (u - nc*ns/2) / math.Sqrt(v)
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

func at(c []int64, k int) int64 {
	if k < len(c) {
		return c[k]
	}
	return 0
}
