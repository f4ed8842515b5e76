package monitoringfake_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twostage/twostage/fake"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake/monitoringfake"
)

// The emulator serves the request counts a test scripts to the official
// Cloud Monitoring client, as time series of run.googleapis.com/request_count
// per revision and response code class.
func Example() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv, err := monitoringfake.NewServer(monitoringfake.WithClock(fake.NewClock(start.Add(time.Hour))))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.Add(
		monitoringfake.Sample{Project: "proj", Service: "api", Revision: "api-v2", Code: 200, End: start.Add(time.Minute), Count: 98},
		monitoringfake.Sample{Project: "proj", Service: "api", Revision: "api-v2", Code: 503, End: start.Add(time.Minute), Count: 2},
	)
	ctx := context.Background()
	c, err := monitoring.NewMetricClient(ctx, srv.ClientOptions()...)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	it := c.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name:     "projects/proj",
		Filter:   `metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "api"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(start.Add(10 * time.Minute))},
		View:     monitoringpb.ListTimeSeriesRequest_FULL,
	})
	for {
		ts, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			panic(err)
		}
		total := int64(0)
		for _, p := range ts.GetPoints() {
			total += p.GetValue().GetInt64Value()
		}
		fmt.Println(ts.GetResource().GetLabels()["revision_name"], ts.GetMetric().GetLabels()["response_code_class"], total)
	}
	// Output:
	// api-v2 2xx 98
	// api-v2 5xx 2
}
