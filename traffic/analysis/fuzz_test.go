package analysis_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
)

// FuzzSequential feeds arbitrary batches to a Sequential gate: whatever the
// counts, its e-values are finite or +Inf and never negative, a verdict is
// one of the three outcomes, and a Fail is backed by an e-value at or above
// its threshold. The high bit of batches puts the step before 100%, where
// the promotion hold judges too.
func FuzzSequential(f *testing.F) {
	f.Add(uint32(10), uint32(1), uint32(190), uint32(0), uint8(5), uint8(3))
	f.Add(uint32(1), uint32(1), uint32(0), uint32(0), uint8(100), uint8(1))
	f.Add(uint32(1000000), uint32(1000000), uint32(1), uint32(1), uint8(50), uint8(10))
	f.Add(uint32(0), uint32(0), uint32(0), uint32(0), uint8(0), uint8(0))
	f.Add(uint32(50), uint32(1), uint32(150), uint32(1), uint8(25), uint8(0x8f))
	f.Fuzz(func(t *testing.T, nc, ec, ns, es uint32, percent, batches uint8) {
		clk := fake.NewClock(t0)
		s := analysis.NewScript(clk, 0)
		g, err := analysis.NewSequential(s)
		if err != nil {
			t.Fatal(err)
		}
		c := analysis.Count{Requests: int64(nc), Errors: int64(min(ec, nc))}
		st := analysis.Count{Requests: int64(ns), Errors: int64(min(es, ns))}
		for range batches % 16 {
			s.Record(cand, clk.Now(), c)
			s.Record(stable, clk.Now(), st)
			clk.Advance(time.Second)
			next := 0
			if batches&0x80 != 0 {
				next = 100
			}
			v, err := g.Check(context.Background(), traffic.Check{Stable: stable, Candidate: cand, Step: 1, Percent: int(percent), Next: next, Since: t0, Now: clk.Now()})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"e_value", "crash_e_value", "promotion_likelihood_ratio", "promotion_expected_nats"} {
				if e := v.Numbers[k]; math.IsNaN(e) || e < 0 {
					t.Fatalf("%s = %v", k, e)
				}
			}
			switch v.Outcome {
			case traffic.Fail:
				if v.Numbers["e_value"] < v.Numbers["threshold"] && v.Numbers["crash_e_value"] < v.Numbers["crash_threshold"] {
					t.Fatalf("fail below both thresholds: %v", v.Numbers)
				}
			case traffic.Pass, traffic.Inconclusive:
			default:
				t.Fatalf("outcome %q", v.Outcome)
			}
		}
	})
}
