package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Releases are the candidate error rates of the grid: healthy first.
func Releases() []float64 { return []float64{0.001, 0.002, 0.005, 0.02, 0.2, 1} }

// Result holds one cell's outcomes: [strategy][release][trial].
type Result struct {
	Cell      Cell
	Trials    int
	Grid      string // "errors" or "latency"
	Baseline  float64
	Names     []string
	Releases  []Release
	Outcomes  [][][]Outcome
	ProbeLoad float64 // mean probe requests per healthy release (ours)
}

// Simulate runs every strategy of the grid ("errors" or "latency") on
// every release of the grid in the cell.
func Simulate(cell Cell, p Params, grid string, trials, workers int) Result {
	var strategies []func() Strategy
	for _, f := range Strategies(grid) {
		if strings.Contains(f().Name(), p.Only) {
			strategies = append(strategies, f)
		}
	}
	var rel []Release
	offset := uint64(0)
	if grid == "latency" {
		rel = LatencyReleases(p.Baseline)
		offset = 1000 // other random numbers than the error grid's
	} else {
		rates := p.Releases
		if len(rates) == 0 {
			rates = Releases()
		}
		for _, r := range rates {
			rel = append(rel, ErrRelease(r))
		}
	}
	res := Result{Cell: cell, Trials: trials, Grid: grid, Baseline: p.Baseline, Releases: rel}
	res.Outcomes = make([][][]Outcome, len(strategies))
	for i, f := range strategies {
		res.Names = append(res.Names, f().Name())
		res.Outcomes[i] = make([][]Outcome, len(rel))
		for j := range rel {
			res.Outcomes[i][j] = make([]Outcome, trials)
		}
	}
	type job struct{ rel, trial int }
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for jb := range jobs {
				seed := mix(p.Seed, math.Float64bits(cell.Rate), offset+uint64(jb.rel), uint64(jb.trial))
				for i, f := range strategies {
					res.Outcomes[i][jb.rel][jb.trial] = Run(f(), cell, p, seed, rel[jb.rel], rel[1:])
				}
			}
		}()
	}
	for j := range rel {
		for t := range trials {
			jobs <- job{j, t}
		}
	}
	close(jobs)
	wg.Wait()
	return res
}

// mix hashes its arguments into a seed (splitmix64 steps).
func mix(xs ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, x := range xs {
		h ^= x + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h ^= h >> 30
		h *= 0xbf58476d1ce4e5b9
		h ^= h >> 27
		h *= 0x94d049bb133111eb
		h ^= h >> 31
	}
	return h
}

// Summary is the aggregate of one strategy on one release.
type Summary struct {
	Rollbacks      int
	Trials         int
	MedianRollback time.Duration // over rolled-back trials; -1 if none
	P90Rollback    time.Duration
	MeanExcess     float64
	MedianFull     time.Duration // over trials reaching 100%; -1 if none
	P90Full        time.Duration
	MeanProbe      float64
	Paused         int // trials whose rollout paused (Outcome.Paused)
}

// Summarize aggregates outcomes.
func Summarize(os []Outcome) Summary {
	s := Summary{Trials: len(os), MedianRollback: -1, P90Rollback: -1, MedianFull: -1, P90Full: -1}
	var rb, full []time.Duration
	for _, o := range os {
		s.MeanExcess += o.Excess
		s.MeanProbe += float64(o.ProbeRequests)
		if o.Paused {
			s.Paused++
		}
		if o.RolledBack {
			s.Rollbacks++
			rb = append(rb, o.RollbackAt)
		}
		if o.FullAt >= 0 {
			full = append(full, o.FullAt)
		}
	}
	if n := float64(len(os)); n > 0 {
		s.MeanExcess /= n
		s.MeanProbe /= n
	}
	if len(rb) > 0 {
		s.MedianRollback, s.P90Rollback = quantile(rb, 0.5), quantile(rb, 0.9)
	}
	if len(full) > 0 {
		s.MedianFull, s.P90Full = quantile(full, 0.5), quantile(full, 0.9)
	}
	return s
}

// quantile returns the q-quantile (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Wilson returns the 95% Wilson score interval of k successes in n.
func Wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nn := float64(n)
	den := 1 + z*z/nn
	c := (p + z*z/(2*nn)) / den
	h := z * math.Sqrt(p*(1-p)/nn+z*z/(4*nn*nn)) / den
	return math.Max(0, c-h), math.Min(1, c+h)
}

func secs(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}

// Markdown writes the cell's table.
func (r Result) Markdown(w io.Writer) {
	what := "errors"
	if r.Grid == "latency" {
		what = "latency (excess: requests slower than the stable's p99, beyond its 1%)"
	}
	fmt.Fprintf(w, "## R = %g/s, metric delay %v, rollback latency %v — %s\n\n", r.Cell.Rate, r.Cell.Delay, r.Cell.Rollback, what)
	fmt.Fprintf(w, "| strategy | healthy: false rollbacks [95%% CI] | healthy: time to 100%% median (p90) |")
	for _, p := range r.Releases[1:] {
		fmt.Fprintf(w, " %s |", p.Label(r.Baseline))
	}
	fmt.Fprintf(w, "\n|---|---|---|")
	for range r.Releases[1:] {
		fmt.Fprintf(w, "---|")
	}
	fmt.Fprintln(w)
	for i, name := range r.Names {
		h := Summarize(r.Outcomes[i][0])
		lo, hi := Wilson(h.Rollbacks, h.Trials)
		fmt.Fprintf(w, "| %s | %.1f%% [%.1f, %.1f] | %s (%s) |", name, 100*float64(h.Rollbacks)/float64(h.Trials), 100*lo, 100*hi, secs(h.MedianFull), secs(h.P90Full))
		for j := range r.Releases[1:] {
			s := Summarize(r.Outcomes[i][j+1])
			fmt.Fprintf(w, " %.0f%% · %s/%s · %s |", 100*float64(s.Rollbacks)/float64(s.Trials), secs(s.MedianRollback), secs(s.P90Rollback), excess(s.MeanExcess))
		}
		fmt.Fprintln(w)
	}
	for i, name := range r.Names {
		var parts []string
		for j, rel := range r.Releases {
			if n := Summarize(r.Outcomes[i][j]).Paused; n > 0 {
				parts = append(parts, fmt.Sprintf("%s: %d of %d", rel.Label(r.Baseline), n, r.Trials))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "\nPaused (a step inconclusive past its maximum wait; the candidate keeps its share until the horizon, counted in the excess) — %s: %s.\n", name, strings.Join(parts, ", "))
		}
	}
	if probe := Summarize(r.Outcomes[0][0]).MeanProbe; probe > 0 {
		fmt.Fprintf(w, "\nProbe load of ours on a healthy release: %.0f synthetic requests (%.2f%% of the real requests until 100%%).\n", probe, 100*probe/(r.Cell.Rate*math.Max(Summarize(r.Outcomes[0][0]).MedianFull.Seconds(), 1)))
	}
	fmt.Fprintln(w)
}

func ratio(x float64) string { return fmt.Sprintf("%g×", math.Round(x*10)/10) }

func excess(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}
