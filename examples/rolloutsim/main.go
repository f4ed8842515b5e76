// Command rolloutsim compares progressive-delivery strategies on the same
// synthetic traffic: how often each rolls back a healthy release, how fast
// it rolls back a bad one, and how many bad requests users get meanwhile.
//
// The model: Poisson requests at R per second; the stable revision fails
// 0.1% of them; a healthy candidate fails 0.1% too, a bad one 0.2%, 0.5%,
// 2%, 20% or 100% (the error grid). Latencies are log-normal (median
// 100 ms, σ 0.6) and reach the gates as Cloud Monitoring histograms
// (exponential buckets, growth 1.4); a slow candidate is ×1.1, ×1.25 or
// ×1.5 slower, or 1% of its requests take 500 ms longer (the latency
// grid). Metrics reach the strategies after a delay (0, 60 or
// 180 s); a rollback takes effect after 0 or 30 s; each release is followed
// for 60 minutes. Every strategy sees the same traffic (common random
// numbers: each simulated second draws from a generator seeded by the
// trial and the second), so differences are the strategies', not luck's.
// The output is deterministic for a given -seed. Our strategy is the
// library itself: the real traffic.Rollout with an analysis.Sequential gate
// and a probe, on a fake service and a fake clock (see engine.go).
//
// Usage:
//
//	go run ./examples/rolloutsim -quick           # R=200/s, delays 0 and 180 s, 20 trials, no watch; seconds
//	go run ./examples/rolloutsim                  # the full grid, 500 trials per cell; see README
//	go run ./examples/rolloutsim -rates 200 -delays 0 -rollbacks 0 -trials 1000
//	go run ./examples/rolloutsim -grid latency -window arrived
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/twostage/twostage/traffic/analysis"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rolloutsim:", err)
		os.Exit(2)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("rolloutsim", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a small grid: R=200/s, delays 0 and 180 s, rollback latency 0, 20 trials, no watch")
	rates := fs.String("rates", "2,20,200,2000", "request rates per second, comma-separated")
	delays := fs.String("delays", "0,60,180", "metric delays in seconds")
	rollbacks := fs.String("rollbacks", "0,30", "rollback latencies in seconds")
	trials := fs.Int("trials", 500, "trials per release and cell")
	seed := fs.Uint64("seed", 1, "random seed")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "parallel workers")
	alpha := fs.Float64("ours-alpha", 0, "tuning: α of our sequential gate (0: the default)")
	crashShare := fs.Float64("ours-crash-share", -1, "tuning: share of α spent on the crash test (negative: the default)")
	histAlpha := fs.Float64("ours-historical-alpha", -1, "tuning: α of the historical (baseline) test (negative: the default, 0.005)")
	baseline := fs.Duration("ours-baseline", -1, "tuning: how much of the stable's history our gate reads as its baseline, 0 turns it off (negative: the default, 24h)")
	latShare := fs.Float64("ours-latency-share", -1, "tuning: share of α spent on the latency test, 0 turns it off (negative: the default)")
	hold := fs.Float64("ours-hold", 0, "tuning: hold level of our sequential gate (0: the default)")
	holdFor := fs.Duration("ours-hold-for", -1, "tuning: longest hold of our sequential gate (negative: the default)")
	ratios := fs.String("ours-ratios", "", "tuning: lo,hi,n regression ratios of our sequential gate (empty: the default)")
	decay := fs.Float64("ours-ratio-decay", -1, "tuning: prior weight ∝ θ^-k over the ratios (negative: the default)")
	promoLevel := fs.Float64("ours-promotion-level", 0, "tuning: likelihood-ratio level of the promotion hold (0: the default)")
	promoFor := fs.Duration("ours-promotion-for", -1, "tuning: longest promotion hold, 0 turns it off (negative: the default)")
	interval := fs.Duration("ours-interval", time.Second, "how often our rollout asks its gate (traffic.WithInterval; the library's default is 1s)")
	watch := fs.Duration("ours-watch", 30*time.Minute, "how long our rollout keeps asking its gate at 100% (traffic.WithWatch; the library's default is 0, no watch)")
	probeRate := fs.Float64("ours-probe-rate", 0, "tuning: our probe's requests per second (0: the default, 2)")
	probeShare := fs.Float64("ours-probe-share", 0, "tuning: the candidate's share of our probe's requests (0: the default, 0.9)")
	only := fs.String("only", "", "simulate only the strategies whose name contains this")
	releases := fs.String("releases", "", "candidate error rates to simulate, healthy first (empty: 0.001,0.002,0.005,0.02,0.2,1)")
	grid := fs.String("grid", "both", "which releases: errors, latency (×1.1, ×1.25, ×1.5, 1% +500 ms) or both")
	window := fs.String("window", "now", "how the other tools read their windows: now (the window ending now) or arrived (the newest window of data that has arrived)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *quick {
		*rates, *delays, *rollbacks, *trials, *watch = "200", "0,180", "0", 20, 0
	}
	rs, err := floats(*rates)
	if err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	ds, err := floats(*delays)
	if err != nil {
		return fmt.Errorf("-delays: %w", err)
	}
	ls, err := floats(*rollbacks)
	if err != nil {
		return fmt.Errorf("-rollbacks: %w", err)
	}
	if *trials < 1 || *workers < 1 {
		return fmt.Errorf("-trials and -workers must be at least 1")
	}
	p := DefaultParams()
	p.Seed = *seed
	var grids []string
	switch *grid {
	case "both":
		grids = []string{"errors", "latency"}
	case "errors", "latency":
		grids = []string{*grid}
	default:
		return fmt.Errorf("-grid %q: want errors, latency or both", *grid)
	}
	if *window != "now" && *window != "arrived" {
		return fmt.Errorf("-window %q: want now or arrived", *window)
	}
	p.Window = *window
	p.Only = *only
	if *interval <= 0 {
		return fmt.Errorf("-ours-interval must be positive")
	}
	p.OursInterval = *interval
	if *watch < 0 {
		return fmt.Errorf("-ours-watch must not be negative")
	}
	p.OursWatch = *watch
	if *probeRate > 0 {
		p.ProbeRate = *probeRate
	}
	if *probeShare > 0 {
		if *probeShare >= 1 {
			return fmt.Errorf("-ours-probe-share %v: want a share in (0, 1)", *probeShare)
		}
		p.ProbeShare = *probeShare
	}
	if *alpha > 0 {
		p.Ours = append(p.Ours, analysis.WithAlpha(*alpha))
	}
	if *crashShare >= 0 {
		p.Ours = append(p.Ours, analysis.WithCrashTest(*crashShare, 0.01, 5))
	}
	if *histAlpha >= 0 {
		p.Ours = append(p.Ours, analysis.WithHistoricalTest(*histAlpha))
	}
	if *baseline >= 0 {
		p.Ours = append(p.Ours, analysis.WithBaseline(*baseline))
	}
	if *latShare >= 0 {
		p.Ours = append(p.Ours, analysis.WithLatencyTest(*latShare))
	}
	if *hold > 0 || *holdFor >= 0 {
		h, d := 1.0, 10*time.Minute
		if *hold > 0 {
			h = *hold
		}
		if *holdFor >= 0 {
			d = *holdFor
		}
		p.Ours = append(p.Ours, analysis.WithHold(h, d))
	}
	if *ratios != "" {
		r, err := floats(*ratios)
		if err != nil || len(r) != 3 {
			return fmt.Errorf("-ours-ratios: want lo,hi,n")
		}
		p.Ours = append(p.Ours, analysis.WithRatios(r[0], r[1], int(r[2])))
	}
	if *decay >= 0 {
		p.Ours = append(p.Ours, analysis.WithRatioDecay(*decay))
	}
	if *promoLevel > 0 || *promoFor >= 0 {
		l, d := 0.1, 20*time.Minute
		if *promoLevel > 0 {
			l = *promoLevel
		}
		if *promoFor >= 0 {
			d = *promoFor
		}
		p.Ours = append(p.Ours, analysis.WithPromotionHold(2, l, d))
	}
	if *releases != "" {
		r, err := floats(*releases)
		if err != nil || len(r) < 2 {
			return fmt.Errorf("-releases: want at least a healthy and a bad rate")
		}
		p.Releases = r
	}
	start := time.Now()
	fmt.Fprintf(w, "# rolloutsim: %d trials per cell, seed %d\n\n", *trials, *seed)
	fmt.Fprintf(w, "Each cell: baseline error rate %.1f%%, horizon %v, probe %g req/s (ours only; reported as load, not in the excess, which counts real users' requests).\n", p.Baseline*100, p.Horizon, p.ProbeRate)
	fmt.Fprintf(w, "Our rollout asks its gate every %v and watches the candidate for %v at 100%% (traffic.WithInterval, traffic.WithWatch).\n", p.OursInterval, p.OursWatch)
	fmt.Fprintf(w, "Columns per bad release: P(rollback) · median/p90 time to rollback (taking effect) · mean excess bad requests.\n\n")
	for _, r := range rs {
		for _, d := range ds {
			for _, l := range ls {
				cell := Cell{Rate: r, Delay: time.Duration(d * float64(time.Second)), Rollback: time.Duration(l * float64(time.Second))}
				for _, grid := range grids {
					res := Simulate(cell, p, grid, *trials, *workers)
					if len(res.Names) > 0 {
						res.Markdown(w)
					}
				}
			}
		}
	}
	fmt.Fprintf(w, "_wall time %v_\n", time.Since(start).Round(time.Second))
	return nil
}

func floats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a non-negative number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
