package monitoringfake_test

import (
	"context"
	"testing"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: oversized and malformed requests, traversal in names
// and negative sizes are refused, 200 concurrent junk requests crash
// nothing, and the memory allocated stays bounded. Not parallel: it
// measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := monitoringfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hostile.GRPC(t, conn, []string{
		monitoringpb.MetricService_ListTimeSeries_FullMethodName, monitoringpb.MetricService_CreateTimeSeries_FullMethodName,
	})
	c := monitoringpb.NewMetricServiceClient(conn)
	ctx := context.Background()
	req := func(name string, size int32) *monitoringpb.ListTimeSeriesRequest {
		return &monitoringpb.ListTimeSeriesRequest{
			Name: name, Filter: `metric.type = "` + monitoringfake.MetricType + `"`, PageSize: size,
			Interval: &monitoringpb.TimeInterval{EndTime: timestamppb.Now()},
		}
	}
	for _, name := range []string{"projects/../x", "projects/p/../../q", "organizations/1"} {
		if _, err := c.ListTimeSeries(ctx, req(name, 0)); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListTimeSeries(%q) = %v, want INVALID_ARGUMENT", name, err)
		}
	}
	if _, err := c.ListTimeSeries(ctx, req("projects/p", -1)); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListTimeSeries(page_size -1) = %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.ListTimeSeries(ctx, req("projects/p", 0)); err != nil {
		t.Errorf("ListTimeSeries after the hostile input = %v, want the emulator still serving", err)
	}
}
