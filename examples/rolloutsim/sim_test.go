package main

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/traffic/analysis"
)

func tinyParams() Params {
	p := DefaultParams()
	p.Releases = []float64{0.001, 0.02, 1}
	return p
}

// TestTinyCell pins the result of a tiny cell, so a change to the model, a
// gate or its defaults shows up here rather than silently in the tables.
func TestTinyCell(t *testing.T) {
	t.Parallel()
	cell := Cell{Rate: 200}
	res := Simulate(cell, tinyParams(), "errors", 4, 2)
	again := Simulate(cell, tinyParams(), "errors", 4, 1)
	if diff := cmp.Diff(res.Outcomes, again.Outcomes); diff != "" {
		t.Fatalf("the simulation is not deterministic across worker counts (-first +second):\n%s", diff)
	}
	var got []string
	for i, name := range res.Names {
		for j, rel := range res.Releases {
			s := Summarize(res.Outcomes[i][j])
			got = append(got, strings.Join([]string{name, fmtRate(rel.ErrRate), itoa(s.Rollbacks), secs(s.MedianRollback), secs(s.MedianFull), excess(s.MeanExcess)}, " | "))
		}
	}
	want := []string{
		"ours: traffic.Rollout, default plan, sequential + probe | 0.1% | 1 | 155 s | 600 s | 0.0",
		"ours: traffic.Rollout, default plan, sequential + probe | 2% | 4 | 6 s | never | 2.2",
		"ours: traffic.Rollout, default plan, sequential + probe | 100% | 4 | 1 s | never | 9.5",
		"Flagger docs example (threshold 10) | 0.1% | 0 | never | 1500 s | 0.0",
		"Flagger docs example (threshold 10) | 2% | 4 | 660 s | never | 80.3",
		"Flagger docs example (threshold 10) | 100% | 4 | 600 s | never | 2401",
		"Flagger, threshold 1 | 0.1% | 0 | never | 1500 s | 0.0",
		"Flagger, threshold 1 | 2% | 4 | 60 s | never | 4.4",
		"Flagger, threshold 1 | 100% | 4 | 60 s | never | 236",
		"Argo Rollouts docs example | 0.1% | 0 | never | 2400 s | 0.0",
		"Argo Rollouts docs example | 2% | 0 | never | 2400 s | 9114",
		"Argo Rollouts docs example | 100% | 4 | 1500 s | never | 107927",
		"CodeDeploy Canary10Percent5Minutes + 1% alarm | 0.1% | 0 | never | 300 s | 0.0",
		"CodeDeploy Canary10Percent5Minutes + 1% alarm | 2% | 4 | 60 s | never | 22.6",
		"CodeDeploy Canary10Percent5Minutes + 1% alarm | 100% | 4 | 60 s | never | 1210",
		"fixed-horizon binomial, 5% → 25% | 0.1% | 0 | never | 1200 s | 0.0",
		"fixed-horizon binomial, 5% → 25% | 2% | 4 | 600 s | never | 114",
		"fixed-horizon binomial, 5% → 25% | 100% | 4 | 600 s | never | 6021",
		"Wald SPRT with the true rates | 0.1% | 0 | never | 21 s | 0.0",
		"Wald SPRT with the true rates | 2% | 4 | 6 s | never | 1.5",
		"Wald SPRT with the true rates | 100% | 4 | 1 s | never | 9.5",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tiny cell mismatch (-want +got):\n%s", diff)
	}
}

func fmtRate(r float64) string { return strconv.FormatFloat(r*100, 'g', -1, 64) + "%" }

func itoa(i int) string { return strconv.Itoa(i) }

// TestScheduleInvariants checks what the strategies' documented schedules
// imply, whatever the random stream: time-based tools reach 100% at fixed
// times, and a release failing every request is caught by every strategy
// that looks at error rates within its first interval.
func TestScheduleInvariants(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	cell := Cell{Rate: 200}
	for seed := range uint64(3) {
		for _, f := range Strategies("errors") {
			s := f()
			o := Run(s, cell, p, seed, ErrRelease(0.001), errReleases())
			wantFull := map[string]time.Duration{
				"Argo Rollouts docs example":                    2400 * time.Second,
				"CodeDeploy Canary10Percent5Minutes + 1% alarm": 300 * time.Second,
			}[s.Name()]
			if wantFull > 0 && (o.RolledBack || o.FullAt != wantFull) {
				t.Errorf("%s, healthy, seed %d: %+v, want 100%% at %v", s.Name(), seed, o, wantFull)
			}
			bad := Run(f(), cell, p, seed, ErrRelease(1), errReleases())
			if strings.HasPrefix(s.Name(), "ours") && (!bad.RolledBack || bad.RollbackAt > 5*time.Second) {
				t.Errorf("%s, total failure, seed %d: %+v, want a rollback within 5s", s.Name(), seed, bad)
			}
		}
	}
}

// TestCommonRandomNumbers: two strategies routing the same share in the
// same second see the same traffic.
func TestCommonRandomNumbers(t *testing.T) {
	t.Parallel()
	a, b := newWorld(42, 200, 0.02, 0.001, 0.75), newWorld(42, 200, 0.02, 0.001, 0.75)
	for sec := range 100 {
		c1, s1, _, _ := a.second(sec, 0.05, 0)
		c2, s2, pc, ps := b.second(sec, 0.05, 2) // the probe draws last
		if c1 != c2 || s1 != s2 {
			t.Fatalf("second %d: %v %v vs %v %v", sec, c1, s1, c2, s2)
		}
		if pc.Requests+ps.Requests != 2 {
			t.Fatalf("second %d: probe sent %d requests, want 2", sec, pc.Requests+ps.Requests)
		}
	}
}

func TestVariates(t *testing.T) {
	t.Parallel()
	w := newWorld(7, 0, 0, 0, 0.75)
	for _, tc := range []struct {
		mean float64
		n    int64
		p    float64
	}{{2, 0, 0}, {200, 1000, 0.001}, {2000, 100000, 0.3}, {0.5, 50, 0.9}} {
		var sp, sb float64
		const k = 20000
		for range k {
			sp += float64(poisson(w.rng, tc.mean))
			sb += float64(binomial(w.rng, tc.n, tc.p))
		}
		if m := sp / k; math.Abs(m-tc.mean) > 5*math.Sqrt(tc.mean/k)+1e-9 {
			t.Errorf("poisson(%v) mean %v", tc.mean, m)
		}
		want := float64(tc.n) * tc.p
		if m := sb / k; math.Abs(m-want) > 5*math.Sqrt(want/k)+1e-9 {
			t.Errorf("binomial(%d, %v) mean %v, want %v", tc.n, tc.p, m, want)
		}
	}
}

func TestWilsonAndTail(t *testing.T) {
	t.Parallel()
	// Reference values: Wilson 95% for 0/100 is [0, 3.70%]; for 10/100
	// [5.52%, 17.44%].
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{{0, 100, 0, 0.0370}, {10, 100, 0.0552, 0.1744}} {
		lo, hi := Wilson(tc.k, tc.n)
		if math.Abs(lo-tc.lo) > 1e-4 || math.Abs(hi-tc.hi) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	// P(X ≥ 2) for X ~ Bin(2, 0.5) = 0.25; P(X ≥ 0) = 1.
	if got := binomialTail(analysis.Count{Requests: 10, Errors: 2}, analysis.Count{Requests: 10}); math.Abs(got-0.25) > 1e-12 {
		t.Errorf("binomialTail = %v, want 0.25", got)
	}
	if got := binomialTail(analysis.Count{Requests: 10}, analysis.Count{Requests: 10, Errors: 3}); math.Abs(got-1) > 1e-12 {
		t.Errorf("binomialTail = %v, want 1", got)
	}
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := run([]string{"-rates", "20", "-delays", "0", "-rollbacks", "30", "-trials", "2", "-releases", "0.001,1", "-only", "CodeDeploy"}, &buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## R = 20/s, metric delay 0s, rollback latency 30s", "| CodeDeploy Canary10Percent5Minutes + 1% alarm | 0.0% [0.0, 65.8] | 300 s (300 s) | 100% · 90 s/90 s ·"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
	if err := run([]string{"-rates", "x"}, &buf); err == nil {
		t.Error("run(-rates x) succeeded, want an error")
	}
}

// TestOursRunsTheEngine checks the engine-driven strategy's bookkeeping on
// cases whose outcome the library's rules fix: a total failure is rolled
// back at the first look with data, and a rollback latency keeps the
// candidate serving its share (and failing) until the rollback takes
// effect; a gate that never decides pauses the rollout at the end of the
// first step's maximum wait, with the probe stopped there; a short horizon
// ends a trial that is still under way.
func TestOursRunsTheEngine(t *testing.T) {
	t.Parallel()
	var s Strategy = &ours{interval: time.Second}
	p := DefaultParams()
	const seed = 3

	fast := Run(s, Cell{Rate: 200}, p, seed, ErrRelease(1), nil)
	slow := Run(s, Cell{Rate: 200, Rollback: 30 * time.Second}, p, seed, ErrRelease(1), nil)
	if !fast.RolledBack || fast.RollbackAt != time.Second {
		t.Errorf("total failure, no latency: %+v, want a rollback taking effect at 1s", fast)
	}
	if !slow.RolledBack || slow.RollbackAt != 31*time.Second {
		t.Errorf("total failure, 30s latency: %+v, want a rollback taking effect at 31s", slow)
	}
	// 30 more seconds at 5% of 200/s, every request failing (0.999 excess
	// each): about 300 more, and the probe stopped at the decision.
	if d := slow.Excess - fast.Excess; d < 200 || d > 400 {
		t.Errorf("30s rollback latency added %.1f excess bad requests, want about 300", d)
	}
	if slow.ProbeRequests != fast.ProbeRequests {
		t.Errorf("probe requests %d with latency, %d without: the probe must stop at the decision", slow.ProbeRequests, fast.ProbeRequests)
	}

	never := p
	never.Ours = []analysis.Option{analysis.WithMinRequests(1 << 40)} // never enough: Inconclusive throughout
	paused := Run(s, Cell{Rate: 200}, never, seed, ErrRelease(0.001), nil)
	want := Outcome{Paused: true, FullAt: -1, ProbeRequests: 2 * 2100} // bake 5 min + MaxWait 30 min
	if diff := cmp.Diff(want, paused); diff != "" {
		t.Errorf("undecided rollout mismatch (-want +got):\n%s", diff)
	}

	short := p
	short.Horizon = 2 * time.Minute
	open := Run(s, Cell{Rate: 200}, short, seed, ErrRelease(0.001), nil)
	if diff := cmp.Diff(Outcome{FullAt: -1, ProbeRequests: 2 * 120}, open); diff != "" {
		t.Errorf("rollout past the horizon mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkTrial measures one healthy release at R = 200/s (10 minutes to
// 100%) under our strategy, the real engine, and under a modelled one.
func BenchmarkTrial(b *testing.B) {
	p := DefaultParams()
	for _, f := range Strategies("errors") {
		s := f()
		if !strings.HasPrefix(s.Name(), "ours") && !strings.HasPrefix(s.Name(), "fixed") {
			continue
		}
		b.Run(strings.Fields(s.Name())[0], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				Run(f(), Cell{Rate: 200}, p, uint64(i), ErrRelease(0.001), errReleases())
			}
		})
	}
}

// TestOursWatch: with traffic.WithWatch the real engine reaches 100% at the
// same time as without (common random numbers: the trials coincide until
// then), the probe stops at 100%, and 2× releases that escaped to 100%
// without a watch are rolled back during it, with fewer bad requests.
func TestOursWatch(t *testing.T) {
	t.Parallel()
	var s Strategy = &ours{interval: time.Second}
	plain := DefaultParams()
	watched := plain
	watched.OursWatch = 30 * time.Minute
	cell := Cell{Rate: 200}

	h0, h1 := Run(s, cell, plain, 1, ErrRelease(0.001), nil), Run(s, cell, watched, 1, ErrRelease(0.001), nil)
	if h1.RolledBack || h1.FullAt != h0.FullAt || h1.FullAt != 600*time.Second || h1.ProbeRequests != h0.ProbeRequests || h1.Excess != 0 {
		t.Errorf("healthy with a watch: %+v, without: %+v; want 100%% at 600s either way and the same probe load", h1, h0)
	}

	escapes := 0
	for seed := range uint64(20) {
		o0, o1 := Run(s, cell, plain, seed, ErrRelease(0.002), nil), Run(s, cell, watched, seed, ErrRelease(0.002), nil)
		if o0.RolledBack {
			if diff := cmp.Diff(o0, o1); diff != "" {
				t.Errorf("seed %d: rolled back before 100%%, yet the watch changed the trial (-without +with):\n%s", seed, diff)
			}
			continue
		}
		escapes++
		if !o1.RolledBack || o1.RollbackAt <= o0.FullAt || o1.RollbackAt > o0.FullAt+30*time.Minute || o1.Excess >= o0.Excess {
			t.Errorf("seed %d: escaped without a watch (%+v); with one: %+v, want a rollback during the watch with less excess", seed, o0, o1)
		}
	}
	if escapes == 0 {
		t.Fatal("no 2× release escaped to 100% in 20 seeds; the test does not exercise the watch")
	}
}

// TestProbeInterleave: the simulated probe splits its requests as
// analysis.Probe.Run does (pipeline's TestProberIdle pins the library's
// side): the candidate first, the stable when a stable share completes.
func TestProbeInterleave(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		share  float64
		stable []int // seconds (at 1 req/s) that probe the stable, of the first 20
	}{{0.9, []int{9, 19}}, {0.75, []int{3, 7, 11, 15, 19}}} {
		w := newWorld(1, 0, 0, 0, tc.share)
		var got []int
		for sec := range 20 {
			if _, _, _, ps := w.second(sec, 0, 1); ps.Requests > 0 {
				got = append(got, sec)
			}
		}
		if diff := cmp.Diff(tc.stable, got); diff != "" {
			t.Errorf("share %v: requests to the stable (-want +got):\n%s", tc.share, diff)
		}
	}
}

func errReleases() []Release {
	var out []Release
	for _, r := range Releases()[1:] {
		out = append(out, ErrRelease(r))
	}
	return out
}

// TestLatencyModel checks the latency releases against closed forms: the
// share of requests slower than the stable's p99 (1 − Φ(2.326 − ln s/σ)
// for a slowdown s) and the bucket probabilities summing to 1.
func TestLatencyModel(t *testing.T) {
	t.Parallel()
	m := DefaultLatencyModel()
	for _, tc := range []struct {
		r    Release
		want float64
	}{
		{Release{Slow: 1.1}, 0.00512},
		{Release{Slow: 1.25}, 0.01535},
		{Release{Slow: 1.5}, 0.03946},
		{Release{Tail: 0.01, TailAdd: 500 * time.Millisecond}, 0.0099},
		{Release{}, 0},
	} {
		if got := m.slowExcess(tc.r); math.Abs(got-tc.want) > 2e-4 {
			t.Errorf("slowExcess(%+v) = %.5f, want %.5f", tc.r, got, tc.want)
		}
		_, p := m.probs(tc.r)
		var sum float64
		for _, v := range p {
			sum += v
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("probs(%+v) sum to %v", tc.r, sum)
		}
	}
	// The drawn histograms have the drawn counts.
	w := newWorld(3, 200, 0.001, 0.001, 0.9).withLatencies(m, Release{Slow: 1.5})
	c, s, pc, ps := w.second(0, 0.25, 2)
	hc, hs, hpc, hps := w.latencies(c, s, pc, ps)
	for _, x := range []struct {
		h []int64
		n int64
	}{{hc, c.Requests}, {hs, s.Requests}, {hpc, pc.Requests}, {hps, ps.Requests}} {
		var n int64
		for _, v := range x.h {
			n += v
		}
		if n != x.n {
			t.Errorf("histogram of %d requests holds %d", x.n, n)
		}
	}
}

func TestMannWhitney(t *testing.T) {
	t.Parallel()
	// Identical samples: p = 0.5; the candidate all above: p ≈ 0.
	if p := mannWhitneyP([]int64{5, 5}, []int64{5, 5}); math.Abs(p-0.5) > 1e-12 {
		t.Errorf("identical: p = %v, want 0.5", p)
	}
	if p := mannWhitneyP([]int64{0, 0, 30}, []int64{30}); p > 1e-6 {
		t.Errorf("candidate slower: p = %v, want ≈ 0", p)
	}
	if p := mannWhitneyP([]int64{30}, []int64{0, 0, 30}); p < 1-1e-6 {
		t.Errorf("candidate faster: p = %v, want ≈ 1", p)
	}
}

// TestLatencyGrid runs a tiny latency cell: deterministic, and our gate
// rolls a ×1.5 release back within seconds.
func TestLatencyGrid(t *testing.T) {
	t.Parallel()
	p := DefaultParams()
	a := Simulate(Cell{Rate: 200}, p, "latency", 2, 2)
	b := Simulate(Cell{Rate: 200}, p, "latency", 2, 1)
	if diff := cmp.Diff(a.Outcomes, b.Outcomes); diff != "" {
		t.Fatalf("not deterministic (-first +second):\n%s", diff)
	}
	x15 := Summarize(a.Outcomes[0][3])
	if x15.Rollbacks != 2 || x15.MedianRollback > 15*time.Second {
		t.Errorf("ours on ×1.5: %+v, want both rolled back within 15 s", x15)
	}
	var buf bytes.Buffer
	a.Markdown(&buf)
	for _, want := range []string{"latency ×1.1", "tail: 1% +500ms", "Kayenta-style", "request-duration"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
