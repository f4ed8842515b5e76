package provision_test

import (
	"context"
	"errors"
	"testing"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	run "cloud.google.com/go/run/apiv2"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/wif/provision"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

// The gapic clients of Cloud Run services and Artifact Registry
// repositories fit ClientPolicyStore.
var (
	_ provision.IAMPolicyClient = (*run.ServicesClient)(nil)
	_ provision.IAMPolicyClient = (*artifactregistry.Client)(nil)
	_ provision.IAMPolicyClient = (*resourcemanager.ProjectsClient)(nil)
)

// policyStoreContract checks what every PolicyStore promises: version 3
// reads and writes keep conditions, writes are conditional on the etag,
// and a stale etag is ErrConflict.
func policyStoreContract(t *testing.T, st provision.PolicyStore, resource string) {
	t.Helper()
	ctx := context.Background()
	p, err := st.GetPolicy(ctx, resource)
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	stale := p.Etag
	p.Version = 3
	p.Bindings = append(p.Bindings,
		&iampb.Binding{Role: "roles/viewer", Members: []string{"user:a@example.com"}},
		&iampb.Binding{Role: "roles/editor", Members: []string{"group:b@example.com"}, Condition: &expr.Expr{Title: "t", Description: "d", Expression: "request.time < timestamp('2030-01-01T00:00:00Z')"}},
	)
	written, err := st.SetPolicy(ctx, resource, p)
	if err != nil {
		t.Fatalf("SetPolicy: %v", err)
	}
	got, err := st.GetPolicy(ctx, resource)
	if err != nil {
		t.Fatalf("GetPolicy after write: %v", err)
	}
	if diff := cmp.Diff(written, got, protocmp.Transform()); diff != "" {
		t.Errorf("read-back mismatch (-written +read):\n%s", diff)
	}
	if diff := cmp.Diff(p.Bindings, got.Bindings, protocmp.Transform()); diff != "" {
		t.Errorf("bindings mismatch (-want +got):\n%s", diff)
	}
	if got.Version != 3 {
		t.Errorf("version = %d, want 3 for a conditional policy", got.Version)
	}
	p.Etag = stale
	_, err = st.SetPolicy(ctx, resource, p)
	if !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("SetPolicy(stale etag) = %v, want ErrConflict", err)
	}
}

func TestProjectPolicyStore(t *testing.T) {
	t.Parallel()
	srv, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithProject("my-proj", "123456789012"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := resourcemanager.NewProjectsClient(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	policyStoreContract(t, provision.ProjectPolicyStore(c), "projects/my-proj")
	// The generic store over the same client (the shape run.ServicesClient
	// and artifactregistry.Client share) behaves the same.
	policyStoreContract(t, provision.ClientPolicyStore(c), "projects/123456789012")

	_, err = provision.ProjectPolicyStore(c).GetPolicy(context.Background(), "projects/unknown")
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetPolicy(unknown project) = %v, want PERMISSION_DENIED kept in the chain", err)
	}
}

func TestServiceAccountPolicyStore(t *testing.T) {
	t.Parallel()
	const email = "deployer@my-proj.iam.gserviceaccount.com"
	srv, err := iamfake.NewServer(iamfake.WithServiceAccount("my-proj", email))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	svc, err := iam.NewService(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	st := provision.ServiceAccountPolicyStore(svc)
	policyStoreContract(t, st, "projects/my-proj/serviceAccounts/"+email)
	_, err = st.GetPolicy(context.Background(), "projects/my-proj/serviceAccounts/nobody@my-proj.iam.gserviceaccount.com")
	if !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("GetPolicy(unknown account) = %v, want ErrNotFound", err)
	}
}

func TestMemStoreContract(t *testing.T) {
	t.Parallel()
	policyStoreContract(t, newMemStore(), "projects/my-proj/locations/europe-west1/services/app")
}
