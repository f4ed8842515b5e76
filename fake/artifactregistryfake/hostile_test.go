package artifactregistryfake_test

import (
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: the OCI front refuses a 120 MiB manifest with 413 (it
// used to cut it silently to 8 MiB), stores no manifest that is not JSON
// of a known media type, answers tags/list?n=-1 with 400 (it used to panic
// inside go-containerregistry's registry), refuses traversal and oversized
// blob uploads, and survives 200 concurrent junk requests; the gRPC API
// refuses oversized and malformed messages; memory stays bounded. Not
// parallel: it measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := artifactregistryfake.NewServer(
		artifactregistryfake.WithRepository(&artifactregistrypb.Repository{Name: "projects/p/locations/us/repositories/r", Format: artifactregistrypb.Repository_DOCKER}),
		artifactregistryfake.WithMaxBlobBytes(8*hostile.MiB),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, base := http.DefaultClient, "http://"+srv.RegistryHost()
	manifest := base + "/v2/p/r/app/manifests/latest"
	const oci = "application/vnd.oci.image.manifest.v1+json"
	hostile.Bounded(t, 48*hostile.MiB, func() {
		for _, chunked := range []bool{false, true} {
			if code := hostile.Do(t, c, http.MethodPut, manifest, oci, hostile.Body(120*hostile.MiB, `{"schemaVersion": 2, "x": "`, 'a'), 120*hostile.MiB, chunked); code != http.StatusRequestEntityTooLarge && code != 0 {
				t.Errorf("120 MiB manifest (chunked %v): HTTP %d, want 413", chunked, code)
			}
			upload := base + "/v2/p/r/app/blobs/uploads/?digest=sha256:" + strings.Repeat("0", 64)
			if code := hostile.Do(t, c, http.MethodPost, upload, "application/octet-stream", hostile.Body(100*hostile.MiB, "", 'b'), 100*hostile.MiB, chunked); code != http.StatusRequestEntityTooLarge && code != 0 {
				t.Errorf("100 MiB blob upload (chunked %v): HTTP %d, want 413", chunked, code)
			}
		}
	})
	for _, tc := range []struct {
		method, url, ct, body string
		want                  int
	}{
		{http.MethodPut, manifest, oci, `{not json`, http.StatusBadRequest},
		{http.MethodPut, manifest, "text/plain", `{"schemaVersion": 2}`, http.StatusBadRequest},
		{http.MethodPut, manifest, oci, `{"schemaVersion": 2, "mediaType": "` + oci + `", "config": {"size": -1}, "layers": []}`, http.StatusBadRequest},
		{http.MethodGet, base + "/v2/p/r/app/tags/list?n=-1", "", "", http.StatusBadRequest},
		{http.MethodGet, base + "/v2/p/r/app/tags/list?n=abc", "", "", http.StatusBadRequest},
		{http.MethodGet, base + "/v2/_catalog?n=-5", "", "", http.StatusBadRequest},
		{http.MethodGet, base + "/v2/p/r/../../etc/manifests/latest", "", "", 0},
		{http.MethodGet, base + "/v2/p/r/..%2F..%2Fx/manifests/latest", "", "", 0},
		{http.MethodGet, base + "/v2/p/r/app/manifests/..%2F..%2Fx", "", "", 0},
	} {
		code := hostile.Do(t, c, tc.method, tc.url, tc.ct, strings.NewReader(tc.body), int64(len(tc.body)), false)
		if tc.want != 0 && code != tc.want || code/100 != 4 {
			t.Errorf("%s %s %q: HTTP %d, want %d (a 4xx)", tc.method, tc.url, tc.body, code, tc.want)
		}
	}
	if code := hostile.Do(t, c, http.MethodGet, manifest, "", nil, 0, false); code != http.StatusNotFound {
		t.Errorf("GET the manifest after the refused pushes: HTTP %d, want 404 (nothing stored)", code)
	}
	hostile.Bounded(t, 48*hostile.MiB, func() {
		hostile.Concurrently(200, func(i int) {
			body := hostile.Junk(i)
			method := []string{http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodGet}[i%4]
			url := []string{manifest, base + "/v2/p/r/app/blobs/uploads/", base + "/v2/p/r/app/blobs/uploads/junk", base + "/v2/p/r/app/tags/list?n=-" + strings.Repeat("9", i%20)}[i%4]
			if code := hostile.Do(t, c, method, url, oci, strings.NewReader(body), int64(len(body)), i%3 == 0); code == 0 || code >= 500 {
				t.Errorf("junk request %d (%s %s): HTTP %d, want an answer below 500", i, method, url, code)
			}
		})
	})
	conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hostile.GRPC(t, conn, []string{
		artifactregistrypb.ArtifactRegistry_GetRepository_FullMethodName, artifactregistrypb.ArtifactRegistry_ListTags_FullMethodName,
		artifactregistrypb.ArtifactRegistry_CreateTag_FullMethodName, artifactregistrypb.ArtifactRegistry_ListDockerImages_FullMethodName,
	})
}
