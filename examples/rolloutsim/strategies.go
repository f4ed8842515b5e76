package main

import (
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
func Strategies() []func() Strategy {
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
	env       *Env
	gate      *analysis.Threshold
	weight    int
	since     int
	checks    int
}

func (s *flagger) Name() string {
	if s.threshold == 10 {
		return "Flagger docs example (threshold 10)"
	}
	return "Flagger, threshold 1"
}

func (*flagger) Probe(Params) float64 { return 0 }

func (s *flagger) Start(env *Env) {
	s.env = env
	g, err := analysis.NewThreshold(env.Metrics, append(analysis.FlaggerDefaults(), analysis.WithFailureLimit(s.threshold), analysis.WithTrailingWindow(true))...)
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
	gate *analysis.Threshold
}

func (*argo) Name() string         { return "Argo Rollouts docs example" }
func (*argo) Probe(Params) float64 { return 0 }

func (s *argo) Start(env *Env) {
	g, err := analysis.NewThreshold(env.Metrics, append(analysis.ArgoDefaults(), analysis.WithTrailingWindow(true))...)
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
	g, err := analysis.NewThreshold(env.Metrics, append(analysis.CodeDeployDefaults(), analysis.WithTrailingWindow(true))...)
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
