package cloudmonitoring_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
)

// Counting a candidate's and a stable's requests from Cloud Monitoring,
// here served by the emulator, whose data arrives three minutes late.
func Example() {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := fake.NewClock(start.Add(10 * time.Minute))
	srv, err := monitoringfake.NewServer(monitoringfake.WithClock(clk), monitoringfake.WithIngestionDelay(3*time.Minute))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	for minute := 1; minute <= 10; minute++ {
		end := start.Add(time.Duration(minute) * time.Minute)
		srv.Add(
			monitoringfake.Sample{Project: "proj", Service: "svc", Revision: "svc-v2", Code: 200, End: end, Count: 60},
			monitoringfake.Sample{Project: "proj", Service: "svc", Revision: "svc-v2", Code: 500, End: end, Count: 1},
			monitoringfake.Sample{Project: "proj", Service: "svc", Revision: "svc-v1", Code: 200, End: end, Count: 1140},
		)
	}
	m, err := cloudmonitoring.New(context.Background(), "proj", "svc",
		cloudmonitoring.WithClientOptions(srv.ClientOptions()...), cloudmonitoring.WithClock(clk))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	c, err := m.Counts(context.Background(), analysis.Query{Revisions: []string{"svc-v2", "svc-v1"}, Start: start, End: clk.Now()})
	if err != nil {
		panic(err)
	}
	fmt.Println("complete through", c.Through.Sub(start))
	fmt.Printf("candidate %+v\n", c.Revisions["svc-v2"])
	fmt.Printf("stable %+v\n", c.Revisions["svc-v1"])
	// Output:
	// complete through 7m0s
	// candidate {Requests:427 Errors:7}
	// stable {Requests:7980 Errors:0}
}
