package artifactregistryfake_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/registry/registrytest"
)

const (
	parent   = "projects/p/locations/europe-west1"
	repoName = parent + "/repositories/apps"
)

func start(t *testing.T, immutable bool) (*artifactregistryfake.Server, *artifactregistry.Client) {
	t.Helper()
	srv, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
		Name: repoName, Format: artifactregistrypb.Repository_DOCKER,
		FormatConfig: &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: immutable}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := artifactregistry.NewClient(t.Context(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// push writes img over the OCI protocol and returns its digest.
func push(t *testing.T, srv *artifactregistryfake.Server, path string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(srv.RegistryHost()+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("pushing %s: %v", path, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestPushShowsUpInAPI(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	img := registrytest.Image(t, "a")
	d := push(t, srv, "p/apps/team/api:4f2c1e0", img)
	push(t, srv, "p/apps/team/api:latest", img)
	pkg := repoName + "/packages/team%2Fapi"

	tag, err := c.GetTag(t.Context(), &artifactregistrypb.GetTagRequest{Name: pkg + "/tags/4f2c1e0"})
	if err != nil {
		t.Fatal(err)
	}
	want := &artifactregistrypb.Tag{Name: pkg + "/tags/4f2c1e0", Version: pkg + "/versions/" + d}
	if diff := cmp.Diff(want, tag, protocmp.Transform()); diff != "" {
		t.Errorf("GetTag mismatch (-want +got):\n%s", diff)
	}

	p, err := c.GetPackage(t.Context(), &artifactregistrypb.GetPackageRequest{Name: pkg})
	if err != nil || p.GetDisplayName() != "team/api" {
		t.Errorf("GetPackage = %v, %v; want display name team/api", p, err)
	}

	v, err := c.GetVersion(t.Context(), &artifactregistrypb.GetVersionRequest{Name: pkg + "/versions/" + d, View: artifactregistrypb.VersionView_FULL})
	if err != nil {
		t.Fatal(err)
	}
	var related []string
	for _, rt := range v.GetRelatedTags() {
		related = append(related, rt.GetName())
	}
	if diff := cmp.Diff([]string{pkg + "/tags/4f2c1e0", pkg + "/tags/latest"}, related); diff != "" {
		t.Errorf("related tags mismatch (-want +got):\n%s", diff)
	}
	if mt := v.GetMetadata().GetFields()["mediaType"].GetStringValue(); mt == "" {
		t.Errorf("version metadata has no mediaType: %v", v.GetMetadata())
	}

	di, err := c.GetDockerImage(t.Context(), &artifactregistrypb.GetDockerImageRequest{Name: repoName + "/dockerImages/team%2Fapi@" + d})
	if err != nil {
		t.Fatal(err)
	}
	if di.GetUri() != srv.RegistryHost()+"/p/apps/team/api@"+d || !cmp.Equal(di.GetTags(), []string{"4f2c1e0", "latest"}) || di.GetImageSizeBytes() <= 0 {
		t.Errorf("GetDockerImage = %v", di)
	}
}

func TestNotFoundAndAlreadyExists(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	d := push(t, srv, "p/apps/api:a", registrytest.Image(t, "a"))
	pkg := repoName + "/packages/api"
	ctx := t.Context()
	_, err1 := c.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: pkg + "/tags/nope"})
	_, err2 := c.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: repoName + "/packages/nope/tags/a"})
	_, err3 := c.GetVersion(ctx, &artifactregistrypb.GetVersionRequest{Name: pkg + "/versions/sha256:" + strings.Repeat("0", 64)})
	_, err4 := c.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: parent + "/repositories/nope"})
	_, err5 := c.CreateTag(ctx, &artifactregistrypb.CreateTagRequest{Parent: pkg, TagId: "b", Tag: &artifactregistrypb.Tag{Version: pkg + "/versions/sha256:" + strings.Repeat("1", 64)}})
	for i, err := range []error{err1, err2, err3, err4, err5} {
		if status.Code(err) != codes.NotFound {
			t.Errorf("call %d = %v, want NOT_FOUND", i+1, err)
		}
	}
	_, err := c.CreateTag(ctx, &artifactregistrypb.CreateTagRequest{Parent: pkg, TagId: "a", Tag: &artifactregistrypb.Tag{Version: pkg + "/versions/" + d}})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateTag of an existing tag = %v, want ALREADY_EXISTS", err)
	}
	op, err := c.CreateRepository(ctx, &artifactregistrypb.CreateRepositoryRequest{Parent: parent, RepositoryId: "apps", Repository: &artifactregistrypb.Repository{Format: artifactregistrypb.Repository_DOCKER}})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("CreateRepository of an existing repository = %v, %v; want ALREADY_EXISTS", op, err)
	}
	_, err = c.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: repoName + "/packages/team/api/tags/a"})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("GetTag with an unescaped package = %v, want INVALID_ARGUMENT", err)
	}
}

func TestCreateRepositoryThenPush(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	img := registrytest.Image(t, "new")
	ref, _ := name.ParseReference(srv.RegistryHost()+"/p/new-repo/api:1", name.Insecure)
	err := remote.Write(ref, img, remote.WithContext(t.Context()))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 404 {
		t.Fatalf("push to a missing repository = %v, want HTTP 404", err)
	}
	op, err := c.CreateRepository(t.Context(), &artifactregistrypb.CreateRepositoryRequest{
		Parent: parent, RepositoryId: "new-repo", Repository: &artifactregistrypb.Repository{Format: artifactregistrypb.Repository_DOCKER},
	})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := op.Wait(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if repo.GetName() != parent+"/repositories/new-repo" || repo.GetRegistryUri() != srv.RegistryHost()+"/p/new-repo" {
		t.Errorf("created repository = %v", repo)
	}
	push(t, srv, "p/new-repo/api:1", img)
	it := c.ListRepositories(t.Context(), &artifactregistrypb.ListRepositoriesRequest{Parent: parent})
	var names []string
	for r, err := range it.All() {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.GetName())
	}
	if diff := cmp.Diff([]string{repoName, parent + "/repositories/new-repo"}, names); diff != "" {
		t.Errorf("ListRepositories mismatch (-want +got):\n%s", diff)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	img := registrytest.Image(t, "p")
	var want []string
	for i := range 7 {
		push(t, srv, fmt.Sprintf("p/apps/api:t%d", i), img)
		want = append(want, fmt.Sprintf("%s/packages/api/tags/t%d", repoName, i))
	}
	it := c.ListTags(t.Context(), &artifactregistrypb.ListTagsRequest{Parent: repoName + "/packages/api", PageSize: 3})
	var got []string
	for {
		tag, err := it.Next()
		if err == iterator.Done {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tag.GetName())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListTags mismatch (-want +got):\n%s", diff)
	}
	if n := srv.Count("ListTags"); n != 3 {
		t.Errorf("ListTags called %d times for 7 tags in pages of 3, want 3", n)
	}
	resp, err := c.ListTags(t.Context(), &artifactregistrypb.ListTagsRequest{Parent: repoName + "/packages/api", Filter: `name="*/tags/t1"`}).Next()
	if err != nil || resp.GetName() != want[1] {
		t.Errorf("ListTags with a name filter = %v, %v; want %s", resp, err, want[1])
	}
	_, err = c.ListTags(t.Context(), &artifactregistrypb.ListTagsRequest{Parent: repoName + "/packages/api", PageToken: "bogus"}).Next()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListTags with a bad page token = %v, want INVALID_ARGUMENT", err)
	}
	images, err := c.ListDockerImages(t.Context(), &artifactregistrypb.ListDockerImagesRequest{Parent: repoName}).Next()
	if err != nil || len(images.GetTags()) != 7 {
		t.Errorf("ListDockerImages = %v, %v; want one image with 7 tags", images, err)
	}
}

func TestTagWritesAreMirroredToOCI(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	d1 := push(t, srv, "p/apps/api:a", registrytest.Image(t, "1"))
	d2 := push(t, srv, "p/apps/api:b", registrytest.Image(t, "2"))
	pkg := repoName + "/packages/api"
	head := func(tag string) (string, error) {
		ref, _ := name.ParseReference(srv.RegistryHost()+"/p/apps/api:"+tag, name.Insecure)
		desc, err := remote.Head(ref, remote.WithContext(t.Context()))
		if err != nil {
			return "", err
		}
		return desc.Digest.String(), nil
	}
	if _, err := c.CreateTag(t.Context(), &artifactregistrypb.CreateTagRequest{Parent: pkg, TagId: "v1", Tag: &artifactregistrypb.Tag{Version: pkg + "/versions/" + d1}}); err != nil {
		t.Fatal(err)
	}
	if got, err := head("v1"); err != nil || got != d1 {
		t.Errorf("OCI HEAD v1 after CreateTag = %s, %v; want %s", got, err, d1)
	}
	if _, err := c.UpdateTag(t.Context(), &artifactregistrypb.UpdateTagRequest{Tag: &artifactregistrypb.Tag{Name: pkg + "/tags/v1", Version: pkg + "/versions/" + d2}}); err != nil {
		t.Fatal(err)
	}
	if got, err := head("v1"); err != nil || got != d2 {
		t.Errorf("OCI HEAD v1 after UpdateTag = %s, %v; want %s", got, err, d2)
	}
	if err := c.DeleteTag(t.Context(), &artifactregistrypb.DeleteTagRequest{Name: pkg + "/tags/v1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := head("v1"); err == nil {
		t.Error("OCI HEAD v1 after DeleteTag succeeded, want 404")
	}
}

func TestImmutableTags(t *testing.T) {
	t.Parallel()
	srv, c := start(t, true)
	d1 := push(t, srv, "p/apps/api:a", registrytest.Image(t, "1"))
	d2 := push(t, srv, "p/apps/api:b", registrytest.Image(t, "2"))
	pkg := repoName + "/packages/api"
	// Creating a tag is allowed (Repository_DockerRepositoryConfig comment).
	if _, err := c.CreateTag(t.Context(), &artifactregistrypb.CreateTagRequest{Parent: pkg, TagId: "v1", Tag: &artifactregistrypb.Tag{Version: pkg + "/versions/" + d1}}); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateTag(t.Context(), &artifactregistrypb.UpdateTagRequest{Tag: &artifactregistrypb.Tag{Name: pkg + "/tags/v1", Version: pkg + "/versions/" + d2}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("UpdateTag moving an immutable tag = %v, want FAILED_PRECONDITION", err)
	}
	if _, err := c.UpdateTag(t.Context(), &artifactregistrypb.UpdateTagRequest{Tag: &artifactregistrypb.Tag{Name: pkg + "/tags/v1", Version: pkg + "/versions/" + d1}}); err != nil {
		t.Errorf("UpdateTag to the same version = %v, want success", err)
	}
	if err := c.DeleteTag(t.Context(), &artifactregistrypb.DeleteTagRequest{Name: pkg + "/tags/v1"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("DeleteTag of an immutable tag = %v, want FAILED_PRECONDITION", err)
	}
	ref, _ := name.ParseReference(srv.RegistryHost()+"/p/apps/api:a", name.Insecure)
	err = remote.Write(ref, registrytest.Image(t, "3"), remote.WithContext(t.Context()))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 409 {
		t.Errorf("OCI push moving an immutable tag = %v, want HTTP 409", err)
	}
	push(t, srv, "p/apps/api:a", registrytest.Image(t, "1")) // same digest: allowed
}

func TestUnimplementedAndInjectedErrors(t *testing.T) {
	t.Parallel()
	srv, c := start(t, false)
	_, err := c.GetFile(t.Context(), &artifactregistrypb.GetFileRequest{Name: repoName + "/files/x"})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "GetFile is not emulated") {
		t.Errorf("GetFile = %v, want UNIMPLEMENTED naming the method", err)
	}
	srv.InjectError("/google.devtools.artifactregistry.v1.ArtifactRegistry/GetRepository", status.Error(codes.PermissionDenied, "denied"), 1)
	_, err = c.GetRepository(t.Context(), &artifactregistrypb.GetRepositoryRequest{Name: repoName})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetRepository with an injected error = %v, want PERMISSION_DENIED", err)
	}
	if _, err := c.GetRepository(t.Context(), &artifactregistrypb.GetRepositoryRequest{Name: repoName}); err != nil {
		t.Errorf("GetRepository after the one-shot injection = %v", err)
	}
}

func TestNewServerRejectsBadRepository(t *testing.T) {
	t.Parallel()
	_, err := artifactregistryfake.NewServer(artifactregistryfake.WithRepository(&artifactregistrypb.Repository{Name: "apps"}))
	if err == nil {
		t.Fatal("NewServer with a bad repository name succeeded")
	}
}
