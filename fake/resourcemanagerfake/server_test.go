package resourcemanagerfake_test

import (
	"context"
	"errors"
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/internal/gcperr"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

func newClient(t *testing.T, opts ...resourcemanagerfake.Option) (*resourcemanagerfake.Server, *resourcemanager.ProjectsClient) {
	t.Helper()
	srv, err := resourcemanagerfake.NewServer(append([]resourcemanagerfake.Option{resourcemanagerfake.WithProject("my-proj", "123")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := resourcemanager.NewProjectsClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func getPolicy(t *testing.T, c *resourcemanager.ProjectsClient, resource string, version int32) *iampb.Policy {
	t.Helper()
	p, err := c.GetIamPolicy(context.Background(), &iampb.GetIamPolicyRequest{
		Resource: resource,
		Options:  &iampb.GetPolicyOptions{RequestedPolicyVersion: version},
	})
	if err != nil {
		t.Fatalf("GetIamPolicy(%s): %v", resource, err)
	}
	return p
}

func TestGetProjectByIDAndNumber(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	for _, name := range []string{"projects/my-proj", "projects/123"} {
		got, err := c.GetProject(context.Background(), &resourcemanagerpb.GetProjectRequest{Name: name})
		if err != nil {
			t.Fatalf("GetProject(%s): %v", name, err)
		}
		want := &resourcemanagerpb.Project{Name: "projects/123", ProjectId: "my-proj", State: resourcemanagerpb.Project_ACTIVE}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			t.Errorf("GetProject(%s) mismatch (-want +got):\n%s", name, diff)
		}
	}
	_, err := c.GetProject(context.Background(), &resourcemanagerpb.GetProjectRequest{Name: "projects/other"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetProject(unknown) = %v, want PERMISSION_DENIED", err)
	}
}

func TestReadModifyWrite(t *testing.T) {
	t.Parallel()
	srv, c := newClient(t)
	ctx := context.Background()
	p := getPolicy(t, c, "projects/my-proj", 3)
	if p.Version != 1 || len(p.Etag) == 0 {
		t.Fatalf("initial policy = %v, want version 1 with an etag", p)
	}
	p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/viewer", Members: []string{"user:a@example.com"}})
	got, err := c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: "projects/123", Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Etag) == string(p.Etag) {
		t.Errorf("etag did not change on write: %q", got.Etag)
	}
	if diff := cmp.Diff(got, srv.Policy("projects/my-proj"), protocmp.Transform()); diff != "" {
		t.Errorf("Policy() mismatch (-want +got):\n%s", diff)
	}
	// Writing again with the old etag is a lost race.
	_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: "projects/my-proj", Policy: p})
	if status.Code(err) != codes.Aborted || !errors.Is(gcperr.Wrap(err, "x"), twostage.ErrConflict) {
		t.Errorf("SetIamPolicy(stale etag) = %v, want ABORTED mapping to ErrConflict", err)
	}
	if s, _ := status.FromError(err); s.Message() != resourcemanagerfake.ConcurrentChangeMessage {
		t.Errorf("message = %q, want %q", s.Message(), resourcemanagerfake.ConcurrentChangeMessage)
	}
}

func TestConcurrentEditHook(t *testing.T) {
	t.Parallel()
	var srv *resourcemanagerfake.Server
	n := 0 // SetIamPolicy calls; calls are sequential in this test
	srv, c := newClient(t, resourcemanagerfake.WithErrorInjection(func(method string, _ any) error {
		if method != resourcemanagerpb.Projects_SetIamPolicy_FullMethodName {
			return nil
		}
		if n++; n == 1 {
			if err := srv.ModifyPolicy("projects/my-proj", func(p *iampb.Policy) {
				p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/owner", Members: []string{"user:other@example.com"}})
			}); err != nil {
				t.Error(err)
			}
		}
		return nil
	}))
	p := getPolicy(t, c, "projects/my-proj", 3)
	p.Bindings = []*iampb.Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}}}
	_, err := c.SetIamPolicy(context.Background(), &iampb.SetIamPolicyRequest{Resource: "projects/my-proj", Policy: p})
	if status.Code(err) != codes.Aborted {
		t.Fatalf("first SetIamPolicy = %v, want ABORTED after the concurrent edit", err)
	}
	if got := srv.Count("SetIamPolicy"); got != 1 {
		t.Errorf("Count(SetIamPolicy) = %d, want 1", got)
	}
	want := []*iampb.Binding{{Role: "roles/owner", Members: []string{"user:other@example.com"}}}
	if diff := cmp.Diff(want, srv.Policy("projects/my-proj").Bindings, protocmp.Transform()); diff != "" {
		t.Errorf("bindings mismatch (-want +got):\n%s", diff)
	}
}

func TestPolicyVersions(t *testing.T) {
	t.Parallel()
	cond := &expr.Expr{Title: "main only", Expression: `request.time < timestamp("2030-01-01T00:00:00Z")`}
	tests := []struct {
		name    string
		policy  *iampb.Policy
		code    codes.Code
		version int32 // of the stored policy when code is OK
	}{
		{"no conditions, version 0", &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}}}}, codes.OK, 1},
		{"no conditions, version 3 stored as 1", &iampb.Policy{Version: 3, Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}}}}, codes.OK, 1},
		{"condition with version 3", &iampb.Policy{Version: 3, Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: cond}}}, codes.OK, 3},
		{"condition with version 1", &iampb.Policy{Version: 1, Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: cond}}}, codes.InvalidArgument, 0},
		{"version 2", &iampb.Policy{Version: 2}, codes.InvalidArgument, 0},
		{"empty binding", &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/viewer"}}}, codes.InvalidArgument, 0},
		{"allUsers on a project", &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"allUsers"}}}}, codes.InvalidArgument, 0},
		{"member without type", &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/viewer", Members: []string{"a@example.com"}}}}, codes.InvalidArgument, 0},
		{"bad role", &iampb.Policy{Bindings: []*iampb.Binding{{Role: "viewer", Members: []string{"user:a@example.com"}}}}, codes.InvalidArgument, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := newClient(t)
			_, err := c.SetIamPolicy(context.Background(), &iampb.SetIamPolicyRequest{Resource: "projects/my-proj", Policy: tt.policy})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("SetIamPolicy() code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.code != codes.OK {
				return
			}
			if got := srv.Policy("projects/my-proj").Version; got != tt.version {
				t.Errorf("stored version = %d, want %d", got, tt.version)
			}
		})
	}
}

func TestGetConditionalPolicyBelowVersion3(t *testing.T) {
	t.Parallel()
	cond := &expr.Expr{Title: "t", Expression: "true"}
	_, c := newClient(t, resourcemanagerfake.WithPolicy("projects/my-proj", &iampb.Policy{Version: 3, Bindings: []*iampb.Binding{
		{Role: "roles/viewer", Members: []string{"user:a@example.com"}, Condition: cond},
		{Role: "roles/editor", Members: []string{"user:b@example.com"}},
	}}))
	v3 := getPolicy(t, c, "projects/my-proj", 3)
	if v3.Version != 3 || v3.Bindings[0].Condition == nil {
		t.Errorf("version 3 read = %v, want the condition", v3)
	}
	v1 := getPolicy(t, c, "projects/my-proj", 1)
	if v1.Version != 1 || v1.Bindings[0].Condition != nil || v1.Bindings[0].Role == "roles/viewer" {
		t.Errorf("version 1 read = %v, want the conditional binding renamed without its condition", v1)
	}
	if v1.Bindings[1].Role != "roles/editor" {
		t.Errorf("unconditional binding role = %q, want roles/editor", v1.Bindings[1].Role)
	}
	_, err := c.GetIamPolicy(context.Background(), &iampb.GetIamPolicyRequest{Resource: "projects/my-proj", Options: &iampb.GetPolicyOptions{RequestedPolicyVersion: 2}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetIamPolicy(version 2) = %v, want INVALID_ARGUMENT", err)
	}
}

func TestUnimplemented(t *testing.T) {
	t.Parallel()
	_, c := newClient(t)
	_, err := c.TestIamPermissions(context.Background(), &iampb.TestIamPermissionsRequest{Resource: "projects/my-proj", Permissions: []string{"x"}})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("TestIamPermissions = %v, want UNIMPLEMENTED", err)
	}
}
