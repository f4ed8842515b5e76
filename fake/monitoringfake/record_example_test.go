package monitoringfake_test

import (
	"context"
	"fmt"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/monitoringfake"
)

// Responses recorded one by one (as the Cloud Run emulator's data plane
// does) read back as request_latencies distributions, after the 3-minute
// ingestion delay.
func ExampleServer_Record() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := fake.NewClock(start)
	srv, err := monitoringfake.NewServer(monitoringfake.WithClock(clk))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	for _, ms := range []int{3, 5, 8, 13} {
		srv.Record(monitoringfake.Response{Project: "proj", Location: "europe-west1", Service: "api", Revision: "api-v2",
			Code: 200, Latency: time.Duration(ms) * time.Millisecond, End: start.Add(10 * time.Second)})
	}
	ctx := context.Background()
	c, err := monitoring.NewMetricClient(ctx, srv.ClientOptions()...)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	list := func() {
		it := c.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
			Name:     "projects/proj",
			Filter:   `metric.type = "run.googleapis.com/request_latencies" AND resource.labels.service_name = "api"`,
			Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(time.Minute))},
			Aggregation: &monitoringpb.Aggregation{
				AlignmentPeriod: durationpb.New(time.Minute), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_DELTA,
				CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM, GroupByFields: []string{"resource.labels.revision_name"},
			},
		})
		n := 0
		for ts, err := range it.All() {
			if err != nil {
				panic(err)
			}
			for _, p := range ts.GetPoints() {
				d := p.GetValue().GetDistributionValue()
				fmt.Printf("%s: %d requests, mean %.2f ms\n", ts.GetResource().GetLabels()["revision_name"], d.GetCount(), d.GetMean())
				n++
			}
		}
		if n == 0 {
			fmt.Println("nothing yet")
		}
	}
	clk.Advance(2 * time.Minute) // the minute has ended, but is not ingested yet
	list()
	clk.Advance(2 * time.Minute)
	list()
	// Output:
	// nothing yet
	// api-v2: 4 requests, mean 7.25 ms
}
