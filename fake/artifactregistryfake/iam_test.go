package artifactregistryfake_test

import (
	"testing"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestRepositoryIAMPolicy: a repository's policy is empty until set, a set
// replaces it with a new etag, a write from a stale read is ABORTED and a
// missing repository NOT_FOUND, through the official client (issue 19.5:
// the WIF flow's repository bindings need it).
func TestRepositoryIAMPolicy(t *testing.T) {
	t.Parallel()
	_, c := start(t, true)
	ctx := t.Context()
	p, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: repoName})
	if err != nil || len(p.GetBindings()) != 0 {
		t.Fatalf("GetIamPolicy of a new repository = %v, %v; want an empty policy", p, err)
	}
	writer := &iampb.Binding{Role: "roles/artifactregistry.writer", Members: []string{"serviceAccount:ci@p.iam.gserviceaccount.com"}}
	set, err := c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: repoName, Policy: &iampb.Policy{Bindings: []*iampb.Binding{writer}, Etag: p.GetEtag()}})
	if err != nil || len(set.GetEtag()) == 0 {
		t.Fatalf("SetIamPolicy = %v, %v; want the policy with an etag", set, err)
	}
	got, err := c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: repoName})
	if err != nil || len(got.GetBindings()) != 1 || got.GetBindings()[0].GetRole() != writer.GetRole() || string(got.GetEtag()) != string(set.GetEtag()) {
		t.Errorf("GetIamPolicy after the set = %v, %v", got, err)
	}
	// A second writer that read before the first write loses.
	_, err = c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: repoName, Policy: &iampb.Policy{Etag: []byte("stale")}})
	if status.Code(err) != codes.Aborted {
		t.Errorf("SetIamPolicy with a stale etag = %v, want ABORTED", err)
	}
	for _, bad := range []struct {
		resource string
		policy   *iampb.Policy
		code     codes.Code
	}{
		{repoName + "x", &iampb.Policy{}, codes.NotFound},
		{repoName, nil, codes.InvalidArgument},
		{repoName, &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/viewer"}}}, codes.InvalidArgument},
	} {
		if _, err := c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: bad.resource, Policy: bad.policy}); status.Code(err) != bad.code {
			t.Errorf("SetIamPolicy(%s, %v) = %v, want %v", bad.resource, bad.policy, err, bad.code)
		}
	}
	perms, err := c.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: repoName, Permissions: []string{"artifactregistry.repositories.uploadArtifacts"}})
	if err != nil || len(perms.GetPermissions()) != 1 {
		t.Errorf("TestIamPermissions = %v, %v", perms, err)
	}
}
