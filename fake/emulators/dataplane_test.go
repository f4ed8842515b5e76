package emulators_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/emulators"
)

// TestDataPlaneThroughOneAddress: requests whose Host is a service URL
// reach the service through the shared address, whatever their path (an
// OCI-looking /v2/ path too), and each lands in Cloud Monitoring's
// request_count after the documented 3-minute delay.
func TestDataPlaneThroughOneAddress(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Date(2026, 11, 25, 12, 0, 30, 0, time.UTC)) // counted in the minute ending 12:01
	const image = "example.com/app@sha256:0000000000000000000000000000000000000000000000000000000000000001"
	set, err := emulators.Start(t.Context(), emulators.WithClock(clk),
		emulators.WithCloudRunOptions(cloudrunfake.WithHandler(image, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "hello from ", r.URL.Path)
		}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	ctx := t.Context()
	svcs, err := run.NewServicesClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer svcs.Close()
	op, err := svcs.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/p/locations/us-central1", ServiceId: "api",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: image}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := op.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := cloudrunfake.NewHTTPClient(set.Addr)
	defer c.CloseIdleConnections()
	for _, path := range []string{"/", "/v2/", "/v1/token"} {
		resp, err := c.Get(svc.GetUri() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "hello from "+path {
			t.Errorf("GET %s = %d %q, want the service's answer", path, resp.StatusCode, b)
		}
	}
	mc, err := monitoring.NewMetricClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	count := func() int64 {
		var n int64
		it := mc.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
			Name:     "projects/p",
			Filter:   `metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "api"`,
			Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(clk.Now().Add(-time.Hour)), EndTime: timestamppb.New(clk.Now())},
		})
		for ts, err := range it.All() {
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ts.GetPoints() {
				n += p.GetValue().GetInt64Value()
			}
		}
		return n
	}
	clk.Advance(3 * time.Minute)
	if n := count(); n != 0 {
		t.Errorf("request_count 3 minutes later = %d, want 0 (the minute ends, then 180 s of delay)", n)
	}
	clk.Advance(time.Minute)
	if n := count(); n != 3 {
		t.Errorf("request_count 4 minutes later = %d, want 3", n)
	}
}
