package cloudrunfake_test

import (
	"context"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: oversized and malformed requests, traversal in names
// and negative sizes are refused with errors, 200 concurrent junk requests
// crash nothing, and the memory the emulator allocates stays bounded.
// Not parallel: it measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := cloudrunfake.NewServer()
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
		runpb.Services_CreateService_FullMethodName, runpb.Services_GetService_FullMethodName,
		runpb.Services_UpdateService_FullMethodName, runpb.Services_ListServices_FullMethodName,
		runpb.Revisions_ListRevisions_FullMethodName, longrunningpb.Operations_GetOperation_FullMethodName,
	})
	ctx := context.Background()
	svcs, revs := runpb.NewServicesClient(conn), runpb.NewRevisionsClient(conn)
	for _, name := range []string{"projects/p/locations/us-central1/services/../../../x", "projects/../locations/x/services/y", "projects/p/locations/us-central1/services/a%2F..%2Fb"} {
		if _, err := svcs.GetService(ctx, &runpb.GetServiceRequest{Name: name}); status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.NotFound {
			t.Errorf("GetService(%q) = %v, want INVALID_ARGUMENT or NOT_FOUND", name, err)
		}
	}
	if _, err := svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent, PageSize: -1}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListServices(page_size -1) = %v, want INVALID_ARGUMENT", err)
	}
	if _, err := revs.ListRevisions(ctx, &runpb.ListRevisionsRequest{Parent: svcName, PageSize: -5}); status.Code(err) == codes.OK {
		t.Errorf("ListRevisions(page_size -5) = %v, want an error", err)
	}
	if _, err := svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent}); err != nil {
		t.Errorf("ListServices after the hostile input = %v, want the emulator still serving", err)
	}
}
