package artifactregistryfake_test

import (
	"testing"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/twostage/twostage/registry/registrytest"
)

// TestDeleteByDigestRemovesItsTags: after an OCI DELETE of a manifest by
// digest, the tag that pointed at it is gone from both views of the
// registry: the API's ListTags and the OCI pull by tag and tags/list
// (issue 16: before, the pull by tag still succeeded).
func TestDeleteByDigestRemovesItsTags(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	d := push(t, srv, "p/apps/api:v1", registrytest.Image(t, "one"))
	ref, err := name.ParseReference(srv.RegistryHost()+"/p/apps/api@"+d, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(ref, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("DELETE by digest: %v", err)
	}
	tagRef, _ := name.ParseReference(srv.RegistryHost()+"/p/apps/api:v1", name.Insecure)
	if _, err := remote.Head(tagRef, remote.WithContext(t.Context())); err == nil {
		t.Errorf("a pull by tag after the version was deleted succeeded")
	}
	tags, err := remote.List(tagRef.Context(), remote.WithContext(t.Context()))
	if err == nil && len(tags) > 0 {
		t.Errorf("tags/list after the version was deleted = %q", tags)
	}
	it := c.ListTags(t.Context(), &artifactregistrypb.ListTagsRequest{Parent: repoName + "/packages/api"})
	if tag, err := it.Next(); err == nil {
		t.Errorf("ListTags after the version was deleted = %v", tag)
	}
}
