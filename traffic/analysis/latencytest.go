package analysis

import (
	"math"
	"slices"
	"time"
)

// latencyTest is the state of the latency test of a [Sequential] gate for
// one rollout: a mixture likelihood ratio over the bucket counts of the
// candidate's and the stable's latency histograms. It is not safe for
// concurrent use.
//
// The statistics, in the spirit of Lindon and Malek, "Anytime-valid
// inference for multinomial count data" (NeurIPS 2022), and conditioned on
// the traffic share like the relative error test. In a batch where the
// candidate served nc and the stable ns requests, call π = nc/(nc+ns). If
// the candidate's latencies are distributed like the stable's, each
// request of latency bucket k is the candidate's with probability π,
// whatever k. If the candidate's latency distribution is the stable's
// reweighted by θ_k in bucket k (θ_k = f_c(k)/f_s(k)), that probability
// is q_k = πθ_k/(πθ_k+1−π), and the batch multiplies the likelihood ratio
// of θ against "no difference" by Π_k (q_k/π)^c_k ((1−q_k)/(1−π))^s_k,
// c_k and s_k being the candidate's and the stable's counts in bucket k.
// Any θ chosen before the batch's labels are seen (it may depend on the
// past, and on the batch's pooled counts, which say nothing of which
// revision served what) gives a nonnegative martingale of mean 1 under
// the null; with θ_k increasing in k it is a supermartingale whenever the
// candidate is stochastically no slower than the stable (its expected
// factor is 1 + Σ_k q_k (f_c(k) − f_s(k)) ≤ 1). The e-value is a fixed
// mixture of such ratios, so by Ville's inequality it reaches 1/α with
// probability at most α, however often it is looked at.
//
// The alternatives θ are read off a reference distribution F of latencies
// (the stable's so far, in the primary metrics):
//   - shifts: the candidate is the stable moved by d in normal scores
//     (z = Φ⁻¹(F(latency))), θ_k = (Φ(b_k−d) − Φ(a_k−d)) / (Φ(b_k) −
//     Φ(a_k)) for a bucket spanning scores [a_k, b_k): for a log-normal
//     stable of log-spread σ this is a slowdown by the factor e^(σd),
//     for other shapes the same shift of ranks; d on a log grid;
//   - heavier tails: a share ε of the candidate's requests moved above the
//     stable's u-quantile, θ_k = 1 − ε + ε·(share of bucket k above u)/(1−u),
//     for (u, ε) in (0.95, 0.05), (0.99, 0.01) and (0.997, 0.01).
//
// The prior puts 0.36 on 5 shifts from d = 0.1 to 1.6 (×1.06 to ×2.6 for
// σ = 0.6), 0.072 each, and 0.64 on the tails: 0.10, 0.14 and 0.40. The
// weight goes where evidence is scarce: a mixture pays ln(1/w) nats for
// its component nearest the truth, and at 5% of the traffic a tail
// regression (1% of requests +500 ms) yields 0.6 nats per slow request it
// causes (requests slower than the stable's p99, beyond its 1%), against
// 2.3 for a ×1.1 shift and 4.1 for ×1.25; so the tail's component gets the
// largest weight, and the shifts, proved in seconds, pay a little more.
// With 1.4× buckets the best component loses little against the exact
// alternative (0.0058 against 0.0060 nats per request for the tail); see
// examples/rolloutsim for the figures. The reference is smoothed
// (F = (count below + ½)/(N + 1)), so a bucket the stable never reached
// still has a finite ratio.
type latencyTest struct {
	bounds []time.Duration // of the first histogram seen; others are re-bucketed onto them

	shifts []float64    // d grid
	tails  [][2]float64 // (u, ε) grid
	logW   []float64    // log prior weight per component (shifts, then tails)
	logLR  []float64    // log likelihood ratio per component
	seen   bool         // whether a batch was taken in

	ref      []int64 // reference counts per bucket (the primary's stable so far)
	refN     int64
	tableN   int64       // refN when the table was computed; 0: none
	logTheta [][]float64 // per bucket, per component: log θ, then θ (2 per component)

	scratch []int64 // reference for a batch computed afresh
	tmp     [][]float64
}

func newLatencyTest() *latencyTest {
	t := &latencyTest{shifts: logGrid(0.1, 1.6, 5)}
	n := len(t.shifts) + len(tailPrior)
	t.logW = make([]float64, 0, n)
	for range t.shifts {
		t.logW = append(t.logW, math.Log(shiftWeight/float64(len(t.shifts))))
	}
	for _, c := range tailPrior {
		t.tails = append(t.tails, [2]float64{c.u, c.eps})
		t.logW = append(t.logW, math.Log(c.w))
	}
	t.logLR = make([]float64, n)
	return t
}

// counts returns h's counts on the test's bounds.
func (t *latencyTest) counts(h Histogram) []int64 {
	if len(h.Counts) == 0 {
		return nil
	}
	if !slices.Equal(h.Bounds, t.bounds) {
		h = h.onto(t.bounds)
	}
	return trimZeros(h.Counts)
}

// shiftWeight is the prior weight of the shift family, spread evenly
// over its grid; tailPrior, the tail family's components and weights,
// has the rest.
const shiftWeight = 0.36

var tailPrior = [...]struct{ u, eps, w float64 }{
	{0.95, 0.05, 0.10},
	{0.99, 0.01, 0.14},
	{0.997, 0.01, 0.40},
}

// refMin is the size of reference below which a batch's table is computed
// afresh from the reference plus the batch's pooled counts.
const refMin = 200

// observe adds one batch: the candidate's and the stable's counts per
// bucket (on the same bounds as the reference). primary says whether the
// stable's counts extend the reference afterwards.
func (t *latencyTest) observe(cand, stable []int64, primary bool) {
	var nc, ns int64
	for _, c := range cand {
		nc += c
	}
	for _, s := range stable {
		ns += s
	}
	if nc > 0 && ns > 0 {
		t.seen = true
		table := t.table(cand, stable)
		pi := float64(nc) / float64(nc+ns)
		for k := 0; k < max(len(cand), len(stable)); k++ {
			c, s := at(cand, k), at(stable, k)
			if c+s == 0 {
				continue
			}
			row := table[k]
			fc, fn := float64(c), float64(c+s)
			for j := range t.logLR {
				// log(q/π) = log θ − log(πθ+1−π); log((1−q)/(1−π)) =
				// −log(πθ+1−π).
				t.logLR[j] += fc*row[2*j] - fn*math.Log(pi*row[2*j+1]+1-pi)
			}
		}
	}
	if primary {
		for k, s := range stable {
			if s == 0 {
				continue
			}
			for len(t.ref) <= k {
				t.ref = append(t.ref, 0)
			}
			t.ref[k] += s
			t.refN += s
		}
	}
}

func at(c []int64, k int) int64 {
	if k < len(c) {
		return c[k]
	}
	return 0
}

// table returns log θ per bucket and component for a batch: from the
// cached reference table when the reference is large enough (refreshed
// once it has grown by a quarter), else computed afresh from the
// reference plus the batch's pooled counts.
func (t *latencyTest) table(cand, stable []int64) [][]float64 {
	width := max(len(cand), len(stable))
	if t.refN >= refMin {
		if t.tableN == 0 || t.refN*4 >= t.tableN*5 || len(t.logTheta) < width {
			t.logTheta = t.fill(t.logTheta, t.ref, t.refN, max(width, len(t.ref)))
			t.tableN = t.refN
		}
		return t.logTheta
	}
	t.scratch = append(t.scratch[:0], t.ref...)
	n := t.refN
	for k := 0; k < width; k++ {
		for len(t.scratch) <= k {
			t.scratch = append(t.scratch, 0)
		}
		v := at(cand, k) + at(stable, k)
		t.scratch[k] += v
		n += v
	}
	t.tmp = t.fill(t.tmp, t.scratch, n, width)
	return t.tmp
}

// fill computes log θ for buckets 0..width−1 from reference counts ref
// (total n) into dst, reusing its memory.
func (t *latencyTest) fill(dst [][]float64, ref []int64, n int64, width int) [][]float64 {
	nc := 2 * len(t.logLR)
	for len(dst) < width {
		dst = append(dst, make([]float64, nc))
	}
	dst = dst[:width]
	var below int64
	fn := float64(n) + 1
	for k := 0; k < width; k++ {
		r := at(ref, k)
		flo := (float64(below) + 0.5) / fn
		fhi := (float64(below+r) + 0.5) / fn
		below += r
		a, b := normQuantile(flo), normQuantile(fhi)
		if k == 0 {
			a = math.Inf(-1)
		}
		row := dst[k]
		for j, d := range t.shifts {
			var lt float64
			if r == 0 {
				// An empty bucket: the density ratio at its score.
				z := a
				if math.IsInf(z, -1) {
					z = b
				}
				lt = d*z - d*d/2
			} else {
				lt = math.Log(normDiff(a-d, b-d) / normDiff(a, b))
			}
			row[2*j], row[2*j+1] = lt, math.Exp(lt)
		}
		for j, ue := range t.tails {
			u, eps := ue[0], ue[1]
			var above float64
			switch {
			case fhi <= u:
				above = 0
			case flo >= u || fhi == flo:
				above = 1
			default:
				above = (fhi - u) / (fhi - flo)
			}
			th := 1 - eps + eps*above/(1-u)
			row[2*(len(t.shifts)+j)], row[2*(len(t.shifts)+j)+1] = math.Log(th), th
		}
	}
	return dst
}

// eValue returns the mixture.
func (t *latencyTest) eValue() float64 {
	if !t.seen {
		return 1
	}
	return sumExp(t.logLR, t.logW)
}

// normQuantile is Φ⁻¹(p) for 0 < p < 1.
func normQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// normDiff is Φ(b) − Φ(a) for a < b, computed on the side where it does
// not cancel.
func normDiff(a, b float64) float64 {
	if a > 0 {
		// Upper tail: Q(a) − Q(b).
		return 0.5 * (math.Erfc(a/math.Sqrt2) - math.Erfc(b/math.Sqrt2))
	}
	return 0.5 * (math.Erfc(-b/math.Sqrt2) - math.Erfc(-a/math.Sqrt2))
}
