package monitoringfake_test

import (
	"math"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake/monitoringfake"
)

func response(rev string, code int, at time.Duration, latency time.Duration) monitoringfake.Response {
	return monitoringfake.Response{Project: "p", Location: "europe-west1", Service: "svc", Revision: rev, Code: code, Latency: latency, End: t0.Add(at)}
}

const latencyFilter = `metric.type = "run.googleapis.com/request_latencies" AND resource.labels.service_name = "svc"`

func latencyRequest(aligner monitoringpb.Aggregation_Aligner, reducer monitoringpb.Aggregation_Reducer) *monitoringpb.ListTimeSeriesRequest {
	req := &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/p", Filter: latencyFilter,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(5 * time.Minute))},
	}
	if aligner != monitoringpb.Aggregation_ALIGN_NONE {
		req.Aggregation = &monitoringpb.Aggregation{
			AlignmentPeriod: durationpb.New(time.Minute), PerSeriesAligner: aligner, CrossSeriesReducer: reducer,
		}
		if reducer != monitoringpb.Aggregation_REDUCE_NONE {
			req.Aggregation.GroupByFields = []string{"resource.labels.revision_name"}
		}
	}
	return req
}

// TestRecordCounts: recorded responses count in the sampling period that
// contains their end, (end-60s, end], and read back like added samples.
func TestRecordCounts(t *testing.T) {
	t.Parallel()
	now := t0.Add(10 * time.Minute)
	srv, c := newClient(t, monitoringfake.WithClock(fake.NewClock(now)), monitoringfake.WithIngestionDelay(3*time.Minute))
	for range 95 {
		srv.Record(response("svc-a", 200, 30*time.Second, time.Millisecond))
	}
	srv.Record(
		response("svc-a", 503, time.Minute, time.Millisecond), // on the boundary: the first period
		response("svc-a", 200, time.Minute+time.Nanosecond, time.Millisecond),
		response("svc-b", 500, 90*time.Second, time.Millisecond),
		response("svc-a", 200, 8*time.Minute, time.Millisecond), // visible at 11m
	)
	got, err := list(t, c, aggregated(t0, t0.Add(10*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	want := []*monitoringpb.TimeSeries{
		grouped("svc-a", "2xx", point(t0.Add(2*time.Minute), time.Minute, 1), point(t0.Add(time.Minute), time.Minute, 95)),
		grouped("svc-a", "5xx", point(t0.Add(time.Minute), time.Minute, 1)),
		grouped("svc-b", "5xx", point(t0.Add(2*time.Minute), time.Minute, 1)),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("ListTimeSeries mismatch (-want +got):\n%s", diff)
	}
}

// TestRecordLatencies: request_latencies is a DELTA DISTRIBUTION in ms with
// exponential buckets, merged by ALIGN_DELTA/ALIGN_SUM and REDUCE_SUM.
func TestRecordLatencies(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t, monitoringfake.WithClock(fake.NewClock(t0.Add(time.Hour))))
	// 1.4^k ms lands in finite bucket k+1 of the default options; 0.5 ms
	// underflows.
	lat := []time.Duration{500 * time.Microsecond, time.Millisecond, 1400 * time.Microsecond, 1500 * time.Microsecond, 10 * time.Millisecond}
	for _, l := range lat {
		srv.Record(response("svc-a", 200, 30*time.Second, l))
	}
	srv.Record(response("svc-a", 500, 40*time.Second, 10*time.Millisecond))
	srv.Record(response("svc-b", 200, 30*time.Second, 2*time.Millisecond))

	got, err := list(t, c, latencyRequest(monitoringpb.Aggregation_ALIGN_DELTA, monitoringpb.Aggregation_REDUCE_SUM))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d series, want 2 (one per revision): %v", len(got), got)
	}
	a := got[0]
	if a.GetResource().GetLabels()["revision_name"] != "svc-a" || a.GetValueType() != metric.MetricDescriptor_DISTRIBUTION ||
		a.GetMetricKind() != metric.MetricDescriptor_DELTA || a.GetUnit() != "ms" || a.GetMetric().GetType() != monitoringfake.LatencyMetricType {
		t.Errorf("series header = %v, want svc-a's DELTA DISTRIBUTION in ms", a)
	}
	if len(a.GetPoints()) != 1 {
		t.Fatalf("svc-a: %d points, want 1", len(a.GetPoints()))
	}
	d := a.GetPoints()[0].GetValue().GetDistributionValue()
	ms := []float64{0.5, 1, 1.4, 1.5, 10, 10}
	mean, ssd := 0.0, 0.0
	for _, v := range ms {
		mean += v / float64(len(ms))
	}
	for _, v := range ms {
		ssd += (v - mean) * (v - mean)
	}
	// 10 ms: log(10)/log(1.4) = 6.84 → finite bucket 7.
	wantBuckets := []int64{1, 1, 2, 0, 0, 0, 0, 2}
	if d.GetCount() != 6 || math.Abs(d.GetMean()-mean) > 1e-9 || math.Abs(d.GetSumOfSquaredDeviation()-ssd) > 1e-9 {
		t.Errorf("distribution count %d mean %v ssd %v, want 6, %v, %v", d.GetCount(), d.GetMean(), d.GetSumOfSquaredDeviation(), mean, ssd)
	}
	if diff := cmp.Diff(wantBuckets, d.GetBucketCounts()); diff != "" {
		t.Errorf("bucket counts mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(monitoringfake.DefaultLatencyBuckets(), d.GetBucketOptions(), protocmp.Transform()); diff != "" {
		t.Errorf("bucket options mismatch (-want +got):\n%s", diff)
	}

	// Unaligned: one point per revision, code and period.
	raw, err := list(t, c, latencyRequest(monitoringpb.Aggregation_ALIGN_NONE, monitoringpb.Aggregation_REDUCE_NONE))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, ts := range raw {
		for _, p := range ts.GetPoints() {
			n += p.GetValue().GetDistributionValue().GetCount()
		}
	}
	if len(raw) != 3 || n != 7 {
		t.Errorf("raw: %d series with %d requests, want 3 series (svc-a 200 and 500, svc-b 200) with 7", len(raw), n)
	}
	// ALIGN_SUM is valid for DELTA distributions too.
	if _, err := list(t, c, latencyRequest(monitoringpb.Aggregation_ALIGN_SUM, monitoringpb.Aggregation_REDUCE_SUM)); err != nil {
		t.Errorf("ALIGN_SUM: %v", err)
	}
}

func TestLatencyBucketOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		buckets *distribution.Distribution_BucketOptions
		want    []int64 // for latencies 0.5, 5, 50, 500 ms
	}{
		{"linear", &distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_LinearBuckets{
			LinearBuckets: &distribution.Distribution_BucketOptions_Linear{NumFiniteBuckets: 10, Width: 10, Offset: 1}}},
			[]int64{1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
		{"explicit", &distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExplicitBuckets{
			ExplicitBuckets: &distribution.Distribution_BucketOptions_Explicit{Bounds: []float64{1, 10, 100}}}},
			[]int64{1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newClient(t, monitoringfake.WithClock(fake.NewClock(t0.Add(time.Hour))), monitoringfake.WithLatencyBuckets(tt.buckets))
			for _, ms := range []float64{0.5, 5, 50, 500} {
				srv.Record(response("svc-a", 200, time.Second, time.Duration(ms*float64(time.Millisecond))))
			}
			got, err := list(t, c, latencyRequest(monitoringpb.Aggregation_ALIGN_DELTA, monitoringpb.Aggregation_REDUCE_SUM))
			if err != nil || len(got) != 1 {
				t.Fatalf("got %v, %v; want one series", got, err)
			}
			d := got[0].GetPoints()[0].GetValue().GetDistributionValue()
			if diff := cmp.Diff(tt.want, d.GetBucketCounts()); diff != "" {
				t.Errorf("bucket counts mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRecordRefusesBadResponses(t *testing.T) {
	t.Parallel()
	srv, _ := newClient(t)
	for _, r := range []monitoringfake.Response{
		{Code: 200, End: t0},
		{Revision: "r", Code: 200},
		{Revision: "r", Code: 99, End: t0},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Record(%+v) did not panic", r)
				}
			}()
			srv.Record(r)
		}()
	}
}

func BenchmarkRecord(b *testing.B) {
	srv, err := monitoringfake.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	b.ReportAllocs()
	r := response("svc-a", 200, time.Second, 3*time.Millisecond)
	for i := 0; b.Loop(); i++ {
		r.End = t0.Add(time.Duration(i) * time.Millisecond)
		srv.Record(r)
	}
}
