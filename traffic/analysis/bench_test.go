package analysis_test

import (
	"context"
	"testing"
	"time"

	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// BenchmarkSequentialCheck measures one Check of a Sequential gate with a
// probe, each adding a second of new data.
func BenchmarkSequentialCheck(b *testing.B) {
	m := analysis.MetricsFunc(func(_ context.Context, q analysis.Query) (analysis.Counts, error) {
		secs := int64(q.End.Sub(q.Start) / time.Second)
		return analysis.Counts{Revisions: map[string]analysis.Count{
			cand:   {Requests: 10 * secs, Errors: secs / 50},
			stable: {Requests: 190 * secs, Errors: secs / 5},
		}, Through: q.End}, nil
	})
	g, err := analysis.NewSequential(m, analysis.WithProbe(m))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := g.Check(ctx, traffic.Check{Stable: stable, Candidate: cand, Step: 1, Percent: 5, Since: t0, Now: t0.Add(time.Duration(i+1) * time.Second)}); err != nil {
			b.Fatal(err)
		}
	}

}

// BenchmarkThresholdCheck measures one Check of a Threshold gate.
func BenchmarkThresholdCheck(b *testing.B) {
	m := analysis.MetricsFunc(func(_ context.Context, q analysis.Query) (analysis.Counts, error) {
		secs := int64(q.End.Sub(q.Start) / time.Second)
		return analysis.Counts{Revisions: map[string]analysis.Count{cand: {Requests: 10 * secs}, stable: {Requests: 190 * secs}}, Through: q.End}, nil
	})
	g, err := analysis.NewThreshold(m, analysis.FlaggerDefaults()...)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := g.Check(ctx, traffic.Check{Stable: stable, Candidate: cand, Step: 1, Percent: 5, Since: t0, Now: t0.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			b.Fatal(err)
		}
	}
}
