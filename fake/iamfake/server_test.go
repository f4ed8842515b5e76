package iamfake_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/internal/gcperr"
	"google.golang.org/api/googleapi"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const parent = "projects/my-proj/locations/global"

func newService(t *testing.T, opts ...iamfake.Option) (*iamfake.Server, *iam.Service) {
	t.Helper()
	srv, err := iamfake.NewServer(append([]iamfake.Option{iamfake.WithProject("my-proj", "123")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	svc, err := iam.NewService(context.Background(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, svc
}

func githubProvider() *iam.WorkloadIdentityPoolProvider {
	return &iam.WorkloadIdentityPoolProvider{
		AttributeMapping:   map[string]string{"google.subject": "assertion.sub", "attribute.repository_id": "assertion.repository_id"},
		AttributeCondition: "assertion.repository_id == '42'",
		Oidc:               &iam.Oidc{IssuerUri: iamfake.GitHubIssuer},
	}
}

func code(err error) int {
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		return ge.Code
	}
	return 0
}

func TestPoolLifecycle(t *testing.T) {
	t.Parallel()
	srv, svc := newService(t)
	ctx := context.Background()
	ps := svc.Projects.Locations.WorkloadIdentityPools

	op, err := ps.Create(parent, &iam.WorkloadIdentityPool{DisplayName: "GitHub"}).WorkloadIdentityPoolId("github").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	if !op.Done || !strings.HasPrefix(op.Name, "projects/123/locations/global/workloadIdentityPools/github/operations/") {
		t.Errorf("create operation = %+v, want done, named under the pool with the project number", op)
	}
	got, err := ps.Get(parent + "/workloadIdentityPools/github").Context(ctx).Do()
	if err != nil {
		t.Fatal(err)
	}
	want := &iam.WorkloadIdentityPool{Name: "projects/123/locations/global/workloadIdentityPools/github", DisplayName: "GitHub", State: "ACTIVE"}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(iam.WorkloadIdentityPool{}, "ServerResponse")); diff != "" {
		t.Errorf("Get mismatch (-want +got):\n%s", diff)
	}

	_, err = ps.Create("projects/123/locations/global", &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Context(ctx).Do()
	if code(err) != http.StatusConflict || !errors.Is(gcperr.Wrap(err, "x"), twostage.ErrConflict) {
		t.Errorf("second Create = %v, want 409 ALREADY_EXISTS", err)
	}
	_, err = ps.Get(parent + "/workloadIdentityPools/nope").Context(ctx).Do()
	if code(err) != http.StatusNotFound || !errors.Is(gcperr.Wrap(err, "x"), twostage.ErrNotFound) {
		t.Errorf("Get(missing) = %v, want 404", err)
	}

	if _, err := ps.Patch(want.Name, &iam.WorkloadIdentityPool{Description: "CI"}).UpdateMask("description").Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Pool(want.Name); got.Description != "CI" || got.DisplayName != "GitHub" {
		t.Errorf("after patch of description: %+v, want description CI and display name kept", got)
	}
	if _, err := ps.Patch(want.Name, &iam.WorkloadIdentityPool{}).Context(ctx).Do(); code(err) != http.StatusBadRequest {
		t.Errorf("Patch without updateMask = %v, want 400", err)
	}
}

func TestInvalidIDs(t *testing.T) {
	t.Parallel()
	_, svc := newService(t)
	for _, id := range []string{"abc", "gcp-pool", "Upper-case", "a-very-long-pool-identifier-over-32"} {
		_, err := svc.Projects.Locations.WorkloadIdentityPools.Create(parent, &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId(id).Do()
		if code(err) != http.StatusBadRequest {
			t.Errorf("Create(%q) = %v, want 400", id, err)
		}
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	_, svc := newService(t)
	ps := svc.Projects.Locations.WorkloadIdentityPools
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("pool-%02d", i)
		if _, err := ps.Create(parent, &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId(id).Do(); err != nil {
			t.Fatal(err)
		}
		want = append(want, "projects/123/locations/global/workloadIdentityPools/"+id)
	}
	var got []string
	pages := 0
	err := ps.List(parent).PageSize(3).Pages(context.Background(), func(r *iam.ListWorkloadIdentityPoolsResponse) error {
		pages++
		for _, p := range r.WorkloadIdentityPools {
			got = append(got, p.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed names mismatch (-want +got):\n%s", diff)
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
}

func TestProviderLifecycle(t *testing.T) {
	t.Parallel()
	srv, svc := newService(t)
	ctx := context.Background()
	ps := svc.Projects.Locations.WorkloadIdentityPools
	pool := parent + "/workloadIdentityPools/github"

	_, err := ps.Providers.Create(pool, githubProvider()).WorkloadIdentityPoolProviderId("actions").Do()
	if code(err) != http.StatusNotFound {
		t.Errorf("Create under a missing pool = %v, want 404", err)
	}
	if _, err := ps.Create(parent, &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Providers.Create(pool, githubProvider()).WorkloadIdentityPoolProviderId("actions").Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	name := "projects/123/locations/global/workloadIdentityPools/github/providers/actions"
	got, err := ps.Providers.Get(pool + "/providers/actions").Do()
	if err != nil {
		t.Fatal(err)
	}
	want := githubProvider()
	want.Name, want.State = name, "ACTIVE"
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(iam.WorkloadIdentityPoolProvider{}, "ServerResponse")); diff != "" {
		t.Errorf("Get mismatch (-want +got):\n%s", diff)
	}

	upd := &iam.WorkloadIdentityPoolProvider{AttributeCondition: "assertion.repository_id == '43'"}
	if _, err := ps.Providers.Patch(name, upd).UpdateMask("attributeCondition").Do(); err != nil {
		t.Fatal(err)
	}
	if got := srv.Provider(name).AttributeCondition; got != upd.AttributeCondition {
		t.Errorf("condition after patch = %q, want %q", got, upd.AttributeCondition)
	}
	// A GitHub provider cannot lose its condition.
	if _, err := ps.Providers.Patch(name, &iam.WorkloadIdentityPoolProvider{}).UpdateMask("attributeCondition").Do(); code(err) != http.StatusBadRequest {
		t.Errorf("Patch dropping the condition = %v, want 400", err)
	}
	list, err := ps.Providers.List(pool).Do()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.WorkloadIdentityPoolProviders) != 1 || list.WorkloadIdentityPoolProviders[0].Name != name {
		t.Errorf("List = %+v, want the one provider", list.WorkloadIdentityPoolProviders)
	}
}

func TestProviderValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(p *iam.WorkloadIdentityPoolProvider)
	}{
		{"github without condition", func(p *iam.WorkloadIdentityPoolProvider) { p.AttributeCondition = "" }},
		{"no google.subject", func(p *iam.WorkloadIdentityPoolProvider) { delete(p.AttributeMapping, "google.subject") }},
		{"bad attribute key", func(p *iam.WorkloadIdentityPoolProvider) {
			p.AttributeMapping["attribute.Repo"] = "assertion.repository"
		}},
		{"no oidc", func(p *iam.WorkloadIdentityPoolProvider) { p.Oidc = nil }},
		{"http issuer", func(p *iam.WorkloadIdentityPoolProvider) { p.Oidc.IssuerUri = "http://example.com" }},
	}
	_, svc := newService(t)
	ps := svc.Projects.Locations.WorkloadIdentityPools
	if _, err := ps.Create(parent, &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Do(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := githubProvider()
			tt.edit(p)
			_, err := ps.Providers.Create(parent+"/workloadIdentityPools/github", p).WorkloadIdentityPoolProviderId("actions").Do()
			if code(err) != http.StatusBadRequest {
				t.Errorf("Create = %v, want 400", err)
			}
		})
	}
}

func TestPendingOperations(t *testing.T) {
	t.Parallel()
	srv, svc := newService(t, iamfake.WithPendingOperations(2))
	ps := svc.Projects.Locations.WorkloadIdentityPools
	op, err := ps.Create(parent, &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Do()
	if err != nil {
		t.Fatal(err)
	}
	if op.Done {
		t.Fatal("operation done at once, want pending")
	}
	if _, err := ps.Get(parent + "/workloadIdentityPools/github").Do(); code(err) != http.StatusNotFound {
		t.Errorf("Get during create = %v, want 404", err)
	}
	for i, wantDone := range []bool{false, true} {
		got, err := ps.Operations.Get(op.Name).Do()
		if err != nil {
			t.Fatal(err)
		}
		if got.Done != wantDone {
			t.Errorf("poll %d: done = %v, want %v", i+1, got.Done, wantDone)
		}
	}
	if srv.Pool(parent+"/workloadIdentityPools/github") == nil {
		t.Error("pool missing after its operation completed")
	}
	// CompleteOperations finishes pending work without polls.
	if _, err := ps.Providers.Create(parent+"/workloadIdentityPools/github", githubProvider()).WorkloadIdentityPoolProviderId("actions").Do(); err != nil {
		t.Fatal(err)
	}
	if n := srv.CompleteOperations(); n != 1 {
		t.Errorf("CompleteOperations() = %d, want 1", n)
	}
	if srv.Provider(parent+"/workloadIdentityPools/github/providers/actions") == nil {
		t.Error("provider missing after CompleteOperations")
	}
}

func TestServiceAccountPolicy(t *testing.T) {
	t.Parallel()
	const email = "deployer@my-proj.iam.gserviceaccount.com"
	srv, svc := newService(t, iamfake.WithServiceAccount("my-proj", email))
	sas := svc.Projects.ServiceAccounts
	res := "projects/my-proj/serviceAccounts/" + email
	p, err := sas.GetIamPolicy(res).OptionsRequestedPolicyVersion(3).Do()
	if err != nil {
		t.Fatal(err)
	}
	p.Bindings = append(p.Bindings, &iam.Binding{Role: "roles/iam.serviceAccountUser", Members: []string{"principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/attribute.repository_id/42"}})
	got, err := sas.SetIamPolicy(res, &iam.SetIamPolicyRequest{Policy: p}).Do()
	if err != nil {
		t.Fatal(err)
	}
	if got.Etag == p.Etag {
		t.Error("etag unchanged by a write")
	}
	_, err = sas.SetIamPolicy(res, &iam.SetIamPolicyRequest{Policy: p}).Do()
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != http.StatusConflict || ge.Message != iamfake.ConcurrentChangeMessage {
		t.Errorf("SetIamPolicy(stale etag) = %v, want 409 with the concurrent-change message", err)
	}
	if err := srv.ModifyServiceAccountPolicy(email, func(p *iam.Policy) { p.Bindings = nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.ServiceAccountPolicy(email).Bindings); n != 0 {
		t.Errorf("bindings after ModifyServiceAccountPolicy = %d, want 0", n)
	}
	_, err = sas.GetIamPolicy("projects/-/serviceAccounts/nobody@x.iam.gserviceaccount.com").Do()
	if code(err) != http.StatusNotFound {
		t.Errorf("GetIamPolicy(unknown account) = %v, want 404", err)
	}
}

func TestUnimplementedAndInjectError(t *testing.T) {
	t.Parallel()
	srv, svc := newService(t)
	_, err := svc.Projects.ServiceAccounts.List("projects/my-proj").Do()
	if code(err) != http.StatusNotImplemented {
		t.Errorf("ServiceAccounts.List = %v, want 501", err)
	}
	srv.InjectError("workloadIdentityPools.get", status.Error(codes.Unavailable, "try later"), 1)
	_, err = svc.Projects.Locations.WorkloadIdentityPools.Get(parent + "/workloadIdentityPools/x").Do()
	if code(err) != http.StatusServiceUnavailable || !gcperr.Retryable(err) {
		t.Errorf("Get after InjectError = %v, want a retryable 503", err)
	}
	if got := srv.Count("workloadIdentityPools.get"); got != 1 {
		t.Errorf("Calls = %d, want 1", got)
	}
}
