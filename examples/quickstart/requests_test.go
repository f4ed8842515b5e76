package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/monitoringfake"
)

// TestRequestsLandInTheirMinute: on simulated time, the requests of each
// simulated second count in the Cloud Monitoring minute that contains that
// second, even when one sleep crosses several minutes.
func TestRequestsLandInTheirMinute(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	clk := fake.NewClock(start)
	mon, err := monitoringfake.NewServer(monitoringfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	run, err := cloudrunfake.NewServer(cloudrunfake.WithClock(clk), cloudrunfake.WithMonitoring(mon),
		cloudrunfake.WithHandler(e2eStable, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	if err := run.SetService(&runpb.Service{Name: e2eService, Template: &runpb.RevisionTemplate{Revision: "api-stable", Containers: []*runpb.Container{{Image: e2eStable}}}}); err != nil {
		t.Fatal(err)
	}
	svc, _ := run.Service(e2eService)
	load := newRequests(clk, run.InProcessClient(), svc.GetUri, 10)
	clk.OnSleep(load.advance)
	// 150 simulated seconds in one sleep: seconds 1..60 end in the first
	// minute (a response at 9:01:00 counts in (9:00, 9:01]), 61..120 in the
	// second, 121..150 in the third.
	if err := clk.Sleep(t.Context(), 150*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := clk.Now(); !got.Equal(start.Add(150 * time.Second)) {
		t.Errorf("clock after the sleep = %v, want %v", got, start.Add(150*time.Second))
	}
	clk.Advance(10 * time.Minute) // past the ingestion delay
	mc, err := monitoring.NewMetricClient(context.Background(), mon.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	it := mc.ListTimeSeries(t.Context(), &monitoringpb.ListTimeSeriesRequest{
		Name:     "projects/acme",
		Filter:   `metric.type = "run.googleapis.com/request_count"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(5 * time.Minute))},
		Aggregation: &monitoringpb.Aggregation{
			AlignmentPeriod: durationpb.New(time.Minute), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_DELTA,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM,
		},
		View: monitoringpb.ListTimeSeriesRequest_FULL,
	})
	got := map[string]int64{}
	for ts, err := range it.All() {
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ts.GetPoints() {
			got[p.GetInterval().GetEndTime().AsTime().Format("15:04")] += p.GetValue().GetInt64Value()
		}
	}
	if diff := cmp.Diff(map[string]int64{"09:01": 600, "09:02": 600, "09:03": 300}, got); diff != "" {
		t.Errorf("requests per minute mismatch (-want +got):\n%s", diff)
	}
}
