package analysis

import (
	"math"
)

// evidence is the state of the two mixture likelihood ratios of a
// [Sequential] gate for one rollout. It is not safe for concurrent use.
//
// The relative test follows Lindon et al. (KDD 2022). In a batch of data
// where the candidate served nc and the stable ns requests, call π =
// nc/(nc+ns) the candidate's share. If both fail at the same rate, each of
// the batch's errors is the candidate's with probability π (exactly:
// the candidate's errors are hypergeometric given the batch's totals, which
// is smaller in convex order than the binomial, so the binomial likelihood
// ratio below is a supermartingale and the test stays valid). If the
// candidate fails θ times as often, the probability is q = πθ/(πθ+1−π).
// The batch multiplies the likelihood ratio for θ by
// (q/π)^ec · ((1−q)/(1−π))^es. The e-value is the average of the ratios
// over a log-uniform grid of θ (a mixture), a nonnegative supermartingale
// when the candidate is no worse than the stable, so by Ville's inequality
// it exceeds 1/α with probability at most α, however often it is looked at.
//
// The crash test is a one-sample mixture over error rates p on a grid: the
// batch multiplies the ratio for p by (p/p0)^ec · ((1−p)/(1−p0))^(nc−ec),
// for every p above the ceiling p0 = max(floor, factor × the stable's error
// rate before the batch). The ceiling is known before the batch, so the
// ratio is a supermartingale while the candidate fails at most p0 of its
// requests. It detects releases that fail a large share of requests from a
// handful of them, where the relative test needs many errors of the stable
// to compare against.
//
// The historical test ([evidence.historical]) asks whether the candidate
// fails more often than the stable did, from the totals alone, so that it
// can still judge when the stable serves nothing (at 100%). See
// [WithHistoricalTest] for the statistics.
type evidence struct {
	ratios []float64 // θ grid
	logW   []float64 // log prior weight per θ (they sum to 1)
	logRel []float64 // log likelihood ratio per θ

	rates   []float64 // p grid
	logP    []float64 // log p
	log1mP  []float64 // log(1-p)
	logCrsh []float64 // log likelihood ratio per p

	histRatios []float64 // θ grid of the historical test
	logHist    []float64 // scratch for the historical test, per θ

	promoRatio float64 // θ of the promotion hold's likelihood ratio
	logPromo   float64 // its log likelihood ratio against θ = 1

	crashFloor, crashFactor float64

	cand, stable Count // totals over every batch

	// base is the stable's history before the rollout (WithBaseline);
	// while baseOK the historical test compares the candidate with
	// baseRate, an upper confidence bound of its error rate.
	base     Count
	baseOK   bool
	baseRate float64
}

func newEvidence(c *config) *evidence {
	e := &evidence{crashFloor: c.crashFloor, crashFactor: c.crashFactor, promoRatio: c.promoRatio}
	e.ratios = logGrid(c.minRatio, c.maxRatio, c.gridPoints)
	// The historical test looks for the small regressions the relative
	// and crash tests are slowest to prove (they prove large ones within
	// seconds, before 100%), so its grid is short and low: cheaper
	// evidence for 1.3× to 5×.
	e.histRatios = logGrid(histMinRatio, histMaxRatio, histPoints)
	e.logW = make([]float64, len(e.ratios))
	for i, th := range e.ratios {
		e.logW[i] = -c.ratioDecay * math.Log(th)
	}
	lse := math.Log(sumExp(e.logW, nil))
	for i := range e.logW {
		e.logW[i] -= lse
	}
	e.logRel = make([]float64, len(e.ratios))
	// Crash rates from just above the floor to 0.99.
	e.rates = logGrid(math.Min(2*c.crashFloor, 0.5), 0.99, 16)
	e.logP = make([]float64, len(e.rates))
	e.log1mP = make([]float64, len(e.rates))
	for i, p := range e.rates {
		e.logP[i] = math.Log(p)
		e.log1mP[i] = math.Log1p(-p)
	}
	e.logCrsh = make([]float64, len(e.rates))
	return e
}

// logGrid returns n points spaced evenly in log between lo and hi (lo alone
// when n is 1).
func logGrid(lo, hi float64, n int) []float64 {
	g := make([]float64, n)
	if n == 1 {
		g[0] = lo
		return g
	}
	a, b := math.Log(lo), math.Log(hi)
	for i := range g {
		g[i] = math.Exp(a + (b-a)*float64(i)/float64(n-1))
	}
	return g
}

// observe adds new requests to the crash test and the totals.
func (e *evidence) observe(cand, stable Count) {
	if cand.Requests > 0 {
		p0 := e.ceiling()
		lp0, l1p0 := math.Log(p0), math.Log1p(-p0)
		ec := float64(cand.Errors)
		ok := float64(cand.Requests - cand.Errors)
		for i, p := range e.rates {
			if p <= p0 {
				continue
			}
			e.logCrsh[i] += ec*(e.logP[i]-lp0) + ok*(e.log1mP[i]-l1p0)
		}
	}
	e.cand = e.cand.Add(cand)
	e.stable = e.stable.Add(stable)
}

// observeRelative adds one batch of the relative test (and of the
// promotion hold's likelihood ratio), in which both revisions served
// requests.
func (e *evidence) observeRelative(cand, stable Count) {
	if cand.Requests == 0 || stable.Requests == 0 || cand.Errors+stable.Errors == 0 {
		return
	}
	pi := float64(cand.Requests) / float64(cand.Requests+stable.Requests)
	ec, es := float64(cand.Errors), float64(stable.Errors)
	for i, th := range e.ratios {
		// q = πθ/(πθ+1−π); log(q/π) = log θ − log(πθ+1−π);
		// log((1−q)/(1−π)) = −log(πθ+1−π).
		d := math.Log(pi*th + 1 - pi)
		e.logRel[i] += ec*(math.Log(th)-d) - es*d
	}
	d := math.Log(pi*e.promoRatio + 1 - pi)
	e.logPromo += ec*(math.Log(e.promoRatio)-d) - es*d
}

// ceiling is the crash test's null error rate for the next batch: factor
// × the stable's rate, the larger of its history's upper bound and its
// rate so far, and at least the floor. The floor stands for a rate not yet
// known; with a history it is lowered to crashBaselineFloor.
func (e *evidence) ceiling() float64 {
	p0 := e.crashFloor
	if e.baseOK {
		p0 = math.Max(crashBaselineFloor, e.crashFactor*e.baseRate)
	}
	if e.stable.Requests > 0 {
		p0 = math.Max(p0, e.crashFactor*e.stable.Rate())
	}
	return math.Min(p0, 0.999)
}

// The historical test's prior on the stable's error rate q: a gamma
// distribution of shape histShape and rate histRate, here exponential with
// mean 1% (about the spread of log q of a log-uniform prior over 1e-5..0.5
// near q = 0.1%; it costs about 4 nats there, more for much rarer errors).
const (
	histShape = 1.0
	histRate  = 100.0

	histMinRatio, histMaxRatio = 1.3, 5.0
	histPoints                 = 6
)

// setBase records the stable's history before the rollout.
func (e *evidence) setBase(base Count) {
	e.base, e.baseOK = base, base.Requests > 0
	if e.baseOK {
		e.baseRate = poissonUpper(float64(base.Errors), baselineDelta) / float64(base.Requests)
	}
}

// crashBaselineFloor is the crash test's floor when the stable's history
// bounds its rate: below it a single error would decide, and one error is
// no crash.
const crashBaselineFloor = 0.001

// baselineDelta is the probability that the stable's error rate exceeds
// the upper bound its history gives (evidence.baseRate): what a known
// baseline adds to the historical test's false-rollback budget.
const baselineDelta = 0.001

// poissonUpper returns the Chernoff upper confidence bound at level delta
// of the mean of a Poisson count observed to be k: the λ ≥ k with
// λ − k − k·ln(λ/k) = ln(1/δ), so that P(X ≤ k) ≤ δ for any mean above
// it (the bound holds for a binomial count too, whose lower tail is
// lighter).
func poissonUpper(k, delta float64) float64 {
	l := math.Log(1 / delta)
	f := func(lam float64) float64 { return lam - k - xlogy(k, lam/k) - l }
	lo, hi := k, k+2*math.Sqrt(2*k*l)+2*l
	for range 100 {
		mid := (lo + hi) / 2
		if f(mid) < 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// historical returns the historical test's e-value. While the stable's
// history is in use (baseOK), a one-sample mixture over the ratio θ (its
// own short grid) of the Poisson likelihood ratio of primary, the
// candidate's totals in the primary metrics, at rate θ·baseRate against
// baseRate: the history holds the users' requests, not a probe's, whose
// path may fail at another rate. Otherwise a mixture, over the stable's
// error rate q (gamma prior) and θ, of the Poisson likelihood of the
// totals of every source under rates (q, θq), divided by their largest
// likelihood under any rates with the candidate's at most the stable's.
// See [WithHistoricalTest] and [WithBaseline].
func (e *evidence) historical(primary Count) float64 {
	if !e.baseOK {
		return e.histE(e.cand, e.stable)
	}
	nc, ec := float64(primary.Requests), float64(primary.Errors)
	if len(e.logHist) != len(e.histRatios) {
		e.logHist = make([]float64, len(e.histRatios))
	}
	for i, th := range e.histRatios {
		e.logHist[i] = ec*math.Log(th) - (th-1)*e.baseRate*nc
	}
	return meanExp(e.logHist)
}

// guard returns the stationarity guard's e-value: the historical test
// asking whether the stable now fails more often than its history did.
func (e *evidence) guard() float64 { return e.histE(e.stable, e.base) }

// histE is the historical test's e-value of a "candidate" c against a
// "stable" s.
func (e *evidence) histE(c, s Count) float64 {
	nc, ec := float64(c.Requests), float64(c.Errors)
	ns, es := float64(s.Requests), float64(s.Errors)
	if nc == 0 {
		return 0
	}
	all := ec + es
	lgA, _ := math.Lgamma(histShape + all)
	lg0, _ := math.Lgamma(histShape)
	logC := histShape*math.Log(histRate) + lgA - lg0
	// The null's best fit: each rate its own when the candidate's is no
	// higher, else one rate for both.
	var logNull float64
	if ec*ns <= es*nc {
		logNull = xlogy(es, es/ns) - es + xlogy(ec, ec/nc) - ec
	} else {
		logNull = xlogy(all, all/(ns+nc)) - all
	}
	if len(e.logHist) != len(e.histRatios) {
		e.logHist = make([]float64, len(e.histRatios))
	}
	for i, th := range e.histRatios {
		e.logHist[i] = logC + ec*math.Log(th) - (histShape+all)*math.Log(histRate+ns+th*nc) - logNull
	}
	return meanExp(e.logHist)
}

// xlogy returns x·log(y), 0 when x is 0.
func xlogy(x, y float64) float64 {
	if x == 0 {
		return 0
	}
	return x * math.Log(y)
}

// promotion returns the likelihood ratio of a regression of the promotion
// hold's ratio against none.
func (e *evidence) promotion() float64 { return math.Exp(e.logPromo) }

// promotionExpected returns how far below 1 that likelihood ratio of a
// candidate no worse than the stable is expected to be by now, in nats:
// the candidate's requests times the stable's error rate times θ − 1 −
// log θ (the Kullback–Leibler divergence of Poisson counts at rates r and
// θr, per unit of r). 0 while the stable has no errors yet.
func (e *evidence) promotionExpected() float64 {
	if e.stable.Requests == 0 || e.stable.Errors == 0 {
		return 0
	}
	th := e.promoRatio
	return float64(e.cand.Requests) * e.stable.Rate() * (th - 1 - math.Log(th))
}

// relative returns the relative test's e-value: the mixture of the
// likelihood ratios over the θ grid with the prior weights.
func (e *evidence) relative() float64 { return sumExp(e.logRel, e.logW) }

// crash returns the crash test's e-value.
func (e *evidence) crash() float64 { return meanExp(e.logCrsh) }

// sumExp returns Σ exp(xs[i] + logW[i]) (logW nil counts as zeros),
// computed stably.
func sumExp(xs, logW []float64) float64 {
	w := func(i int) float64 {
		if logW == nil {
			return 0
		}
		return logW[i]
	}
	m := math.Inf(-1)
	for i, x := range xs {
		m = math.Max(m, x+w(i))
	}
	if math.IsInf(m, -1) {
		return 0
	}
	s := 0.0
	for i, x := range xs {
		s += math.Exp(x + w(i) - m)
	}
	return math.Exp(m) * s
}

// meanExp returns the mean of exp(x) over xs, computed stably.
func meanExp(xs []float64) float64 { return sumExp(xs, nil) / float64(len(xs)) }
