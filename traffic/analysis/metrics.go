package analysis

import (
	"context"
	"errors"
	"time"
)

// ErrNoRevisions is returned (wrapped) by a [Metrics] source asked for no
// revisions.
var ErrNoRevisions = errors.New("analysis: query names no revisions")

// Count is the number of requests a revision served and how many of them
// failed.
type Count struct {
	// Requests counts every request, failed or not.
	Requests int64
	// Errors counts the failed requests (server errors, 5xx), Errors ≤
	// Requests.
	Errors int64
}

// Rate returns Errors/Requests, or 0 when there were no requests.
func (c Count) Rate() float64 {
	if c.Requests <= 0 {
		return 0
	}
	return float64(c.Errors) / float64(c.Requests)
}

// Add returns c + d.
func (c Count) Add(d Count) Count {
	return Count{Requests: c.Requests + d.Requests, Errors: c.Errors + d.Errors}
}

// Sub returns c - d, each field floored at zero.
func (c Count) Sub(d Count) Count {
	return Count{Requests: max(c.Requests-d.Requests, 0), Errors: max(c.Errors-d.Errors, 0)}
}

// Query asks for the counts of some revisions over a window of time.
type Query struct {
	// Revisions are the revision names to count.
	Revisions []string
	// Start is the beginning of the window (inclusive).
	Start time.Time
	// End is the end of the window (exclusive), usually now.
	End time.Time
}

// Counts answers a [Query].
type Counts struct {
	// Revisions maps each queried revision to its cumulative counts over
	// [Start, Through). A revision with no data maps to the zero Count.
	Revisions map[string]Count
	// Through is how far the data is known to be complete: the counts
	// cover requests received in [Start, Through), and nothing later.
	// Start ≤ Through ≤ End. Real metrics arrive late, so Through usually
	// lags End by the source's reporting delay.
	Through time.Time
}

// Metrics is a source of per-revision request and error counts.
//
// Implementations must be safe for concurrent use. Counts over a longer
// window of complete data must not be smaller than over a shorter one (the
// counts are cumulative). An error means the source could not answer; gates
// report it and the rollout treats it like Inconclusive.
type Metrics interface {
	Counts(ctx context.Context, q Query) (Counts, error)
}

// MetricsFunc adapts a function to the [Metrics] interface.
type MetricsFunc func(ctx context.Context, q Query) (Counts, error)

// Counts calls f(ctx, q).
func (f MetricsFunc) Counts(ctx context.Context, q Query) (Counts, error) { return f(ctx, q) }

// Subtract returns a source that reports m's counts minus probe's over the
// window m reports complete, for a primary source whose counts include the
// probe's requests (Cloud Monitoring counts every request a revision
// serves, synthetic or not). Give the result to [NewSequential] and the
// probe to [WithProbe], so no request is counted twice. Counts never go
// below zero. When m is a [LatencyMetrics], so is the result, and if the
// probe is one too its latencies are subtracted likewise, bucket by
// bucket (a probe measures latency at the client, a little above what the
// server reports, so a few of its requests may be taken from the next
// bucket up).
func Subtract(m, probe Metrics) Metrics {
	s := subtracted{m: m, probe: probe}
	if lm, ok := m.(LatencyMetrics); ok {
		lp, _ := probe.(LatencyMetrics)
		return subtractedLatencies{s, lm, lp}
	}
	return s
}

type subtracted struct{ m, probe Metrics }

func (s subtracted) Counts(ctx context.Context, q Query) (Counts, error) {
	got, err := s.m.Counts(ctx, q)
	if err != nil {
		return Counts{}, err
	}
	p, err := s.probe.Counts(ctx, Query{Revisions: q.Revisions, Start: q.Start, End: got.Through})
	if err != nil {
		return Counts{}, err
	}
	out := Counts{Revisions: make(map[string]Count, len(got.Revisions)), Through: got.Through}
	for r, c := range got.Revisions {
		out.Revisions[r] = c.Sub(p.Revisions[r])
	}
	return out, nil
}

type subtractedLatencies struct {
	subtracted
	m, probe LatencyMetrics // probe may be nil
}

func (s subtractedLatencies) Latencies(ctx context.Context, q Query) (Latencies, error) {
	got, err := s.m.Latencies(ctx, q)
	if err != nil || s.probe == nil {
		return got, err
	}
	p, err := s.probe.Latencies(ctx, Query{Revisions: q.Revisions, Start: q.Start, End: got.Through})
	if err != nil {
		return Latencies{}, err
	}
	out := Latencies{Revisions: make(map[string]Histogram, len(got.Revisions)), Through: got.Through}
	for r, h := range got.Revisions {
		out.Revisions[r] = h.sub(p.Revisions[r])
	}
	return out, nil
}
