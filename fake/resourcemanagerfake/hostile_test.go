package resourcemanagerfake_test

import (
	"context"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: oversized and malformed requests and traversal in
// names are refused, 200 concurrent junk requests crash nothing, and the
// memory allocated stays bounded. Not parallel: it measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithProject("my-proj", "123"))
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
		resourcemanagerpb.Projects_SetIamPolicy_FullMethodName, resourcemanagerpb.Projects_GetIamPolicy_FullMethodName,
		resourcemanagerpb.Projects_GetProject_FullMethodName,
	})
	c := resourcemanagerpb.NewProjectsClient(conn)
	ctx := context.Background()
	for _, name := range []string{"projects/../my-proj", "projects/my-proj/../../x", "projects/-1"} {
		if _, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: name}); status.Code(err) == codes.OK {
			t.Errorf("GetIamPolicy(%q) = OK, want an error", name)
		}
	}
	if _, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/my-proj", Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: -1}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetIamPolicy(version -1) = %v, want INVALID_ARGUMENT", err)
	}
	if _, err := c.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/my-proj"}); err != nil {
		t.Errorf("GetProject after the hostile input = %v, want the emulator still serving", err)
	}
}
