package monitoringfake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/fake/monitoringfake"
	"google.golang.org/api/iterator"
	"google.golang.org/genproto/googleapis/api/metric"
	"google.golang.org/genproto/googleapis/api/monitoredres"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newClient(t *testing.T, opts ...monitoringfake.Option) (*monitoringfake.Server, *monitoring.MetricClient) {
	t.Helper()
	srv, err := monitoringfake.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := monitoring.NewMetricClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return srv, c
}

func list(t *testing.T, c *monitoring.MetricClient, req *monitoringpb.ListTimeSeriesRequest) ([]*monitoringpb.TimeSeries, error) {
	t.Helper()
	var out []*monitoringpb.TimeSeries
	it := c.ListTimeSeries(context.Background(), req)
	for {
		ts, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ts)
	}
}

func sample(rev string, code int, minute int, n int64) monitoringfake.Sample {
	return monitoringfake.Sample{Project: "p", Location: "europe-west1", Service: "svc", Revision: rev, Code: code, End: t0.Add(time.Duration(minute) * time.Minute), Count: n}
}

func point(end time.Time, period time.Duration, v int64) *monitoringpb.Point {
	return &monitoringpb.Point{
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(end.Add(-period)), EndTime: timestamppb.New(end)},
		Value:    &monitoringpb.TypedValue{Value: &monitoringpb.TypedValue_Int64Value{Int64Value: v}},
	}
}

func grouped(rev, class string, points ...*monitoringpb.Point) *monitoringpb.TimeSeries {
	return &monitoringpb.TimeSeries{
		Metric:     &metric.Metric{Type: monitoringfake.MetricType, Labels: map[string]string{"response_code_class": class}},
		Resource:   &monitoredres.MonitoredResource{Type: monitoringfake.ResourceType, Labels: map[string]string{"revision_name": rev}},
		MetricKind: metric.MetricDescriptor_DELTA, ValueType: metric.MetricDescriptor_INT64, Unit: "1",
		Points: points,
	}
}

const filter = `metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "svc" AND resource.labels.revision_name = one_of("svc-a", "svc-b")`

func aggregated(start, end time.Time) *monitoringpb.ListTimeSeriesRequest {
	return &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/p", Filter: filter,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)},
		Aggregation: &monitoringpb.Aggregation{
			AlignmentPeriod: durationpb.New(time.Minute), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_DELTA,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM,
			GroupByFields:      []string{"resource.labels.revision_name", "metric.labels.response_code_class"},
		},
	}
}

func TestListTimeSeriesAggregated(t *testing.T) {
	t.Parallel()
	now := t0.Add(10 * time.Minute)
	srv, c := newClient(t, monitoringfake.WithClock(fake.NewClock(now)), monitoringfake.WithIngestionDelay(3*time.Minute))
	srv.Add(
		sample("svc-a", 200, 1, 90), sample("svc-a", 201, 1, 5), sample("svc-a", 503, 1, 5),
		sample("svc-a", 200, 2, 100),
		sample("svc-b", 200, 2, 1000), sample("svc-b", 500, 2, 1),
		sample("svc-a", 500, 8, 50),   // not ingested yet: ends at 8m, visible at 11m
		sample("svc-c", 500, 2, 7),    // another revision
		sample("svc-a", 200, 0, 1000), // at the interval's start: excluded
	)
	got, err := list(t, c, aggregated(t0, t0.Add(10*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	// Series come sorted by their labels (metric labels first); the real
	// API promises no order.
	want := []*monitoringpb.TimeSeries{
		grouped("svc-a", "2xx", point(t0.Add(2*time.Minute), time.Minute, 100), point(t0.Add(time.Minute), time.Minute, 95)),
		grouped("svc-b", "2xx", point(t0.Add(2*time.Minute), time.Minute, 1000)),
		grouped("svc-a", "5xx", point(t0.Add(time.Minute), time.Minute, 5)),
		grouped("svc-b", "5xx", point(t0.Add(2*time.Minute), time.Minute, 1)),
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("ListTimeSeries mismatch (-want +got):\n%s", diff)
	}
	if srv.Count("ListTimeSeries") != 1 {
		t.Errorf("Calls = %d, want 1", srv.Count("ListTimeSeries"))
	}
}

func TestListTimeSeriesRawHeadersAndPaging(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	for m := 1; m <= 3; m++ {
		srv.Add(sample("svc-a", 200, m, int64(m)), sample("svc-b", 200, m, int64(10*m)))
	}
	req := &monitoringpb.ListTimeSeriesRequest{
		Name: "projects/p", Filter: `metric.type="run.googleapis.com/request_count" resource.label."revision_name"!="svc-b"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(time.Hour))},
	}
	got, err := list(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].GetPoints()) != 3 || got[0].GetPoints()[0].GetValue().GetInt64Value() != 3 || got[0].GetResource().GetLabels()["service_name"] != "svc" || got[0].GetMetric().GetLabels()["response_code"] != "200" {
		t.Errorf("raw series = %v, want one series of svc-a with 3 points, newest first", got)
	}
	req.Filter = `metric.type = "run.googleapis.com/request_count"`
	req.PageSize = 3 // points per page in the FULL view: one series a page
	got, err = list(t, c, req)
	if err != nil || len(got) != 2 {
		t.Errorf("paged FULL: %d series, %v; want 2", len(got), err)
	}
	req.View = monitoringpb.ListTimeSeriesRequest_HEADERS
	req.PageSize = 1
	got, err = list(t, c, req)
	if err != nil || len(got) != 2 || len(got[0].GetPoints()) != 0 {
		t.Errorf("HEADERS: %v, %v; want 2 series without points", got, err)
	}
}

func TestListTimeSeriesErrors(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	ok := func() *monitoringpb.ListTimeSeriesRequest { return aggregated(t0, t0.Add(time.Hour)) }
	tests := []struct {
		name   string
		mutate func(*monitoringpb.ListTimeSeriesRequest)
	}{
		{"folder", func(r *monitoringpb.ListTimeSeriesRequest) { r.Name = "folders/1" }},
		{"no filter", func(r *monitoringpb.ListTimeSeriesRequest) { r.Filter = "" }},
		{"no metric type", func(r *monitoringpb.ListTimeSeriesRequest) { r.Filter = `resource.type = "cloud_run_revision"` }},
		{"bad syntax", func(r *monitoringpb.ListTimeSeriesRequest) { r.Filter = `metric.type = run` }},
		{"starts_with", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Filter = `metric.type = starts_with("run.googleapis.com/")`
		}},
		{"no end", func(r *monitoringpb.ListTimeSeriesRequest) { r.Interval.EndTime = nil }},
		{"reversed", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Interval.StartTime = timestamppb.New(t0.Add(2 * time.Hour))
		}},
		{"short period", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Aggregation.AlignmentPeriod = durationpb.New(time.Second)
		}},
		{"mean aligner", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Aggregation.PerSeriesAligner = monitoringpb.Aggregation_ALIGN_MEAN
		}},
		{"mean reducer", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Aggregation.CrossSeriesReducer = monitoringpb.Aggregation_REDUCE_MEAN
		}},
		{"reduce unaligned", func(r *monitoringpb.ListTimeSeriesRequest) {
			r.Aggregation.PerSeriesAligner = monitoringpb.Aggregation_ALIGN_NONE
		}},
		{"bad group", func(r *monitoringpb.ListTimeSeriesRequest) { r.Aggregation.GroupByFields = []string{"metric.type"} }},
		{"order by", func(r *monitoringpb.ListTimeSeriesRequest) { r.OrderBy = "x" }},
		{"bad token", func(r *monitoringpb.ListTimeSeriesRequest) { r.PageToken = "x" }},
	}
	for _, tt := range tests {
		req := ok()
		tt.mutate(req)
		_, err := list(t, c, req)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: error %v, want InvalidArgument", tt.name, err)
		}
	}
	_, err := c.GetMetricDescriptor(context.Background(), &monitoringpb.GetMetricDescriptorRequest{Name: "projects/p/metricDescriptors/x"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("GetMetricDescriptor: %v, want Unimplemented", err)
	}
}

// TestListTimeSeriesRate: ALIGN_RATE turns request counts into requests
// per second over each alignment period, a GAUGE of DOUBLE (the Aligner
// comment); on request_latencies, a distribution, it is INVALID_ARGUMENT.
// Before, ALIGN_RATE was refused.
func TestListTimeSeriesRate(t *testing.T) {
	t.Parallel()
	now := t0.Add(10 * time.Minute)
	srv, c := newClient(t, monitoringfake.WithClock(fake.NewClock(now)), monitoringfake.WithIngestionDelay(3*time.Minute))
	srv.Add(sample("svc-a", 200, 1, 90), sample("svc-a", 200, 2, 120))
	req := aggregated(t0, t0.Add(10*time.Minute))
	req.Aggregation.PerSeriesAligner = monitoringpb.Aggregation_ALIGN_RATE
	got, err := list(t, c, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].GetMetricKind() != metric.MetricDescriptor_GAUGE || got[0].GetValueType() != metric.MetricDescriptor_DOUBLE || len(got[0].GetPoints()) != 2 {
		t.Fatalf("ALIGN_RATE = %v, want one GAUGE DOUBLE series of two points", got)
	}
	if r := got[0].GetPoints()[0].GetValue().GetDoubleValue(); r != 2 { // 120 requests in a minute
		t.Errorf("newest rate = %v, want 2 per second", r)
	}
	req.Filter = `metric.type = "run.googleapis.com/request_latencies"`
	if _, err := list(t, c, req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ALIGN_RATE on a distribution = %v, want INVALID_ARGUMENT", err)
	}
}
