package analysis

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twostage/twostage"
)

// Script is an in-memory [Metrics] source whose data a test or simulation
// writes with [Script.Record]. Data recorded at time t becomes visible once
// the clock reads t + delay, which models the ingestion delay of real
// metrics. Create one with [NewScript]. Script is safe for concurrent use.
type Script struct {
	clock twostage.Clock
	delay time.Duration

	mu   sync.Mutex // guards revs and lats
	revs map[string]*series
	lats map[string]*latSeries
}

// latSeries is one revision's latency data, like series: points sorted by
// time once prepared, with running totals.
type latSeries struct {
	bounds []time.Duration
	at     []time.Time
	h      [][]int64 // per point
	cum    [][]int64 // cum[i] = sum of h[:i] (trailing zeros trimmed); valid when sorted
	sorted bool
}

// series is one revision's data: points sorted by time once prepared, with
// running totals, so a count is two binary searches.
type series struct {
	at     []time.Time
	c      []Count // per point
	cum    []Count // cum[i] = sum of c[:i]; valid when sorted
	sorted bool
}

var (
	_ Metrics        = (*Script)(nil)
	_ Metrics        = (*LatencyScript)(nil)
	_ LatencyMetrics = (*LatencyScript)(nil)
)

// LatencyScript is a [Script] that also records and serves latency
// histograms: a [LatencyMetrics], so a [Sequential] gate reading it runs
// its latency test. Create one with [NewLatencyScript].
type LatencyScript struct{ *Script }

// NewLatencyScript returns an empty latency script, as [NewScript].
func NewLatencyScript(clock twostage.Clock, delay time.Duration) *LatencyScript {
	return &LatencyScript{NewScript(clock, delay)}
}

// NewScript returns an empty script read through clock, whose data becomes
// visible delay after the time it is recorded at. A nil clock is the
// system clock; a negative delay is treated as zero.
func NewScript(clock twostage.Clock, delay time.Duration) *Script {
	if clock == nil {
		clock = twostage.SystemClock()
	}
	return &Script{clock: clock, delay: max(delay, 0), revs: make(map[string]*series), lats: make(map[string]*latSeries)}
}

// Record adds c requests of revision rev received at time at. Recording
// into the past is allowed (late data); recording negative counts, or more
// errors than requests, panics, since it is a bug in the test.
func (s *Script) Record(rev string, at time.Time, c Count) {
	if c.Requests < 0 || c.Errors < 0 || c.Errors > c.Requests {
		panic(fmt.Sprintf("analysis: Script.Record(%q, %v, %+v): counts must satisfy 0 ≤ errors ≤ requests", rev, at, c))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.revs[rev]
	if r == nil {
		r = &series{sorted: true, cum: []Count{{}}}
		s.revs[rev] = r
	}
	if n := len(r.at); n > 0 && at.Before(r.at[n-1]) {
		r.sorted = false
	}
	r.at = append(r.at, at)
	r.c = append(r.c, c)
	if r.sorted {
		r.cum = append(r.cum, r.cum[len(r.cum)-1].Add(c))
	}
}

// prepare sorts the points and rebuilds the running totals if needed.
func (r *series) prepare() {
	if r.sorted {
		return
	}
	idx := make([]int, len(r.at))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.at[idx[a]].Before(r.at[idx[b]]) })
	at := make([]time.Time, len(idx))
	c := make([]Count, len(idx))
	r.cum = make([]Count, len(idx)+1)
	for i, j := range idx {
		at[i], c[i] = r.at[j], r.c[j]
		r.cum[i+1] = r.cum[i].Add(c[i])
	}
	r.at, r.c, r.sorted = at, c, true
}

// through is how far q's data is visible: q.End or, if earlier, the
// clock's time minus the delay, never before q.Start.
func (s *Script) through(q Query) time.Time {
	through := q.End
	if visible := s.clock.Now().Add(-s.delay); visible.Before(through) {
		through = visible
	}
	if through.Before(q.Start) {
		through = q.Start
	}
	return through
}

// span returns the indexes i ≤ j of the sorted times at that fall in
// [start, through): at[i:j].
func span(at []time.Time, start, through time.Time) (int, int) {
	i := sort.Search(len(at), func(i int) bool { return !at[i].Before(start) })
	j := sort.Search(len(at), func(i int) bool { return !at[i].Before(through) })
	return i, max(i, j)
}

// Counts sums what was recorded for q.Revisions in [q.Start, Through), where
// Through is q.End or, if earlier, the clock's time minus the delay (never
// before q.Start).
func (s *Script) Counts(ctx context.Context, q Query) (Counts, error) {
	if err := ctx.Err(); err != nil {
		return Counts{}, err
	}
	if len(q.Revisions) == 0 {
		return Counts{}, fmt.Errorf("counting scripted requests: %w", ErrNoRevisions)
	}
	through := s.through(q)
	out := Counts{Revisions: make(map[string]Count, len(q.Revisions)), Through: through}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range q.Revisions {
		r := s.revs[name]
		if r == nil {
			out.Revisions[name] = Count{}
			continue
		}
		r.prepare()
		i, j := span(r.at, q.Start, through)
		out.Revisions[name] = r.cum[j].Sub(r.cum[i])
	}
	return out, nil
}

// RecordLatencies adds the latencies h of requests of revision rev
// received at time at (they are not counted as requests: record those
// with [Script.Record]). Every histogram of a revision must have the same
// bounds; a malformed histogram or other bounds panic, since it is a bug
// in the test.
func (s *LatencyScript) RecordLatencies(rev string, at time.Time, h Histogram) {
	if err := h.validate(); err != nil {
		panic(fmt.Sprintf("analysis: Script.RecordLatencies(%q, %v): %v", rev, at, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.lats[rev]
	if r == nil {
		r = &latSeries{bounds: slices.Clone(h.Bounds), sorted: true, cum: [][]int64{nil}}
		s.lats[rev] = r
	}
	if !slices.Equal(r.bounds, h.Bounds) {
		panic(fmt.Sprintf("analysis: Script.RecordLatencies(%q, %v): bounds differ from the revision's first histogram", rev, at))
	}
	counts := trimZeros(slices.Clone(h.Counts))
	if n := len(r.at); n > 0 && at.Before(r.at[n-1]) {
		r.sorted = false
	}
	r.at = append(r.at, at)
	r.h = append(r.h, counts)
	if r.sorted {
		r.cum = append(r.cum, addCounts(r.cum[len(r.cum)-1], counts))
	}
}

func trimZeros(c []int64) []int64 {
	n := len(c)
	for n > 0 && c[n-1] == 0 {
		n--
	}
	return c[:n]
}

// addCounts returns a + b in a new slice.
func addCounts(a, b []int64) []int64 {
	out := make([]int64, max(len(a), len(b)))
	copy(out, a)
	for i, v := range b {
		out[i] += v
	}
	return out
}

// subCounts returns a − b in a new slice, floored at zero, trailing zeros
// trimmed.
func subCounts(a, b []int64) []int64 {
	out := slices.Clone(a)
	for i := range out {
		if i < len(b) {
			out[i] = max(out[i]-b[i], 0)
		}
	}
	return trimZeros(out)
}

func (r *latSeries) prepare() {
	if r.sorted {
		return
	}
	idx := make([]int, len(r.at))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return r.at[idx[a]].Before(r.at[idx[b]]) })
	at := make([]time.Time, len(idx))
	h := make([][]int64, len(idx))
	r.cum = make([][]int64, len(idx)+1)
	for i, j := range idx {
		at[i], h[i] = r.at[j], r.h[j]
		r.cum[i+1] = addCounts(r.cum[i], h[i])
	}
	r.at, r.h, r.sorted = at, h, true
}

// Latencies sums the histograms recorded for q.Revisions in [q.Start,
// Through), Through being as in [Script.Counts]. The histograms' Bounds
// are shared: do not modify them.
func (s *LatencyScript) Latencies(ctx context.Context, q Query) (Latencies, error) {
	if err := ctx.Err(); err != nil {
		return Latencies{}, err
	}
	if len(q.Revisions) == 0 {
		return Latencies{}, fmt.Errorf("reading scripted latencies: %w", ErrNoRevisions)
	}
	through := s.through(q)
	out := Latencies{Revisions: make(map[string]Histogram, len(q.Revisions)), Through: through}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range q.Revisions {
		r := s.lats[name]
		if r == nil {
			out.Revisions[name] = Histogram{}
			continue
		}
		r.prepare()
		i, j := span(r.at, q.Start, through)
		out.Revisions[name] = Histogram{Bounds: r.bounds, Counts: subCounts(r.cum[j], r.cum[i])}
	}
	return out, nil
}
