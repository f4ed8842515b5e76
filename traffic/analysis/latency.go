package analysis

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"
)

// Histogram is a latency histogram in Cloud Monitoring's distribution
// form: Bounds are the finite bucket boundaries, strictly increasing;
// bucket 0 counts the latencies below Bounds[0], bucket i (0 < i <
// len(Bounds)) those in [Bounds[i−1], Bounds[i]), and the last bucket,
// number len(Bounds), those at or above the last bound. Counts has
// len(Bounds)+1 entries, or fewer when the last buckets are empty (a
// missing count is zero), or none.
type Histogram struct {
	Bounds []time.Duration
	Counts []int64
}

// Total returns the number of requests counted.
func (h Histogram) Total() int64 {
	var n int64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Count returns bucket i's count (0 beyond Counts).
func (h Histogram) Count(i int) int64 {
	if i < 0 || i >= len(h.Counts) {
		return 0
	}
	return h.Counts[i]
}

// Quantile returns an estimate of the q-quantile (0 < q < 1): the
// latency below which a share q of the requests fall, interpolated
// linearly within its bucket (the underflow bucket is taken to start at
// 0; a quantile in the overflow bucket is its lower bound). It returns −1
// for an empty histogram.
func (h Histogram) Quantile(q float64) time.Duration {
	n := h.Total()
	if n == 0 {
		return -1
	}
	target := q * float64(n)
	var cum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= target || i == len(h.Counts)-1 {
			lo := time.Duration(0)
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			if i >= len(h.Bounds) {
				return lo
			}
			f := math.Min(math.Max((target-cum)/float64(c), 0), 1)
			return lo + time.Duration(f*float64(h.Bounds[i]-lo))
		}
		cum += float64(c)
	}
	return -1
}

// validate reports whether h is well formed.
func (h Histogram) validate() error {
	if len(h.Counts) > len(h.Bounds)+1 {
		return fmt.Errorf("analysis: histogram has %d counts for %d bounds, want at most %d", len(h.Counts), len(h.Bounds), len(h.Bounds)+1)
	}
	for i := 1; i < len(h.Bounds); i++ {
		if h.Bounds[i] <= h.Bounds[i-1] {
			return fmt.Errorf("analysis: histogram bounds %v and %v are not increasing", h.Bounds[i-1], h.Bounds[i])
		}
	}
	for _, c := range h.Counts {
		if c < 0 {
			return fmt.Errorf("analysis: negative histogram count %d", c)
		}
	}
	return nil
}

// ExponentialBounds returns the bounds of Cloud Monitoring's exponential
// buckets: n finite buckets, bound i (0 ≤ i ≤ n) being scale ×
// growth^i. Cloud Run's request_latencies points, in milliseconds, are
// believed to use n = 66, growth 1.4, scale 1 ms (unverified; see
// [DefaultLatencyBounds]).
func ExponentialBounds(n int, growth float64, scale time.Duration) []time.Duration {
	b := make([]time.Duration, 0, n+1)
	for i := 0; i <= n; i++ {
		b = append(b, time.Duration(float64(scale)*math.Pow(growth, float64(i))))
	}
	return b
}

// DefaultLatencyBounds returns the bounds a [Probe] (and [Script] users
// who have no others) count latencies in: exponential, 66 finite buckets,
// growth 1.4, scale 1 ms, the bucket options seen on Google Cloud's
// load-balancer latency distributions and assumed for Cloud Run's
// request_latencies (unverified), so that a probe's histograms line up
// with Cloud Monitoring's.
func DefaultLatencyBounds() []time.Duration { return ExponentialBounds(66, 1.4, time.Millisecond) }

// Latencies answers a [Query] for latency histograms.
type Latencies struct {
	// Revisions maps each queried revision to its cumulative latency
	// histogram over [Start, Through). A revision with no data maps to
	// an empty Histogram.
	Revisions map[string]Histogram
	// Through is how far the data is complete, as [Counts.Through].
	Through time.Time
}

// LatencyMetrics is an optional extension of a [Metrics] source: per
// revision, the latencies of the requests it counts, as cumulative
// histograms. The gates detect it with a type assertion on the source;
// a source without it is judged on errors alone.
//
// Implementations must be safe for concurrent use. The histograms are
// cumulative like the counts: over a longer window of complete data no
// bucket is smaller. A revision's bounds must not change between calls.
type LatencyMetrics interface {
	Latencies(ctx context.Context, q Query) (Latencies, error)
}

// sub returns h − d bucket by bucket, floored at zero, on h's bounds. When
// d has other bounds, d is first merged onto h's (a bucket of d lands in
// the bucket of h holding its lower bound).
func (h Histogram) sub(d Histogram) Histogram {
	if len(d.Counts) == 0 {
		return h
	}
	if !slices.Equal(h.Bounds, d.Bounds) {
		d = d.onto(h.Bounds)
	}
	out := Histogram{Bounds: h.Bounds, Counts: slices.Clone(h.Counts)}
	for i := range out.Counts {
		out.Counts[i] = max(out.Counts[i]-d.Count(i), 0)
	}
	return out
}

// onto re-buckets h onto bounds: each bucket's count goes to the bucket
// of bounds that holds its lower bound.
func (h Histogram) onto(bounds []time.Duration) Histogram {
	out := Histogram{Bounds: bounds, Counts: make([]int64, len(bounds)+1)}
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo := time.Duration(math.MinInt64)
		if i > 0 {
			lo = h.Bounds[i-1]
		}
		j, found := slices.BinarySearch(bounds, lo)
		if found {
			j++
		}
		out.Counts[j] += c
	}
	return out
}
