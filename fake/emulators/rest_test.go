package emulators_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/internal/gcperr"
)

// TestREST: the shared address answers the REST/JSON paths of every gRPC
// API (issue 16) through the right emulator, beside the OCI registry and
// IAM, and unknown REST paths keep the router's 404 naming what is served.
func TestREST(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	base := set.Endpoints().REST
	if base != "http://"+set.Addr {
		t.Errorf("Endpoints().REST = %q, want http://%s", base, set.Addr)
	}
	tests := []struct {
		method, path, body string
		code               int
		want               string // a substring of the answer
	}{
		{"GET", "/v2/projects/p/locations/us-central1/services", "", 200, "{"},
		{"GET", "/v2/projects/p/locations/us-central1/services/none", "", 404, `"status":"NOT_FOUND"`},
		{"GET", "/v2/projects/p/locations/us-central1/operations/none", "", 404, `"status":"NOT_FOUND"`},
		{"GET", "/v1/projects/my-project/locations/us-central1/repositories/apps", "", 200, `"name":"projects/my-project/locations/us-central1/repositories/apps"`},
		{"GET", "/v3/projects/my-project", "", 0, ""},
		{"GET", "/v3/projects/my-project/timeSeries?filter=metric.type%3D%22run.googleapis.com%2Frequest_count%22&interval.endTime=2026-01-01T00:00:00Z&interval.startTime=2025-12-31T00:00:00Z", "", 200, "{"},
		{"GET", "/v3/projects/my-project/metricDescriptors", "", 501, `"status":"UNIMPLEMENTED"`},
		{"GET", "/v2/projects/p/nothing", "", 404, "isnotemulated;routes:"},
		{"GET", "/v1/projects/p/locations/l/nothing", "", 404, "isnotemulated;routes:"},
		{"GET", "/v2/", "", 200, ""}, // the OCI registry's version check still answers
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tt.code == 0 { // Resource Manager: any answer of the API, JSON
			if !json.Valid(b) || strings.Contains(string(b), "is not emulated") {
				t.Errorf("%s %s = %d %s, want Resource Manager's JSON answer", tt.method, tt.path, resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != tt.code || !strings.Contains(strings.ReplaceAll(string(b), " ", ""), tt.want) {
			t.Errorf("%s %s = %d %s, want %d with %s", tt.method, tt.path, resp.StatusCode, b, tt.code, tt.want)
		}
	}
}

// restClient returns a REST client newClient makes for set, closed when
// the test ends.
func restClient[C interface{ Close() error }](t *testing.T, set *emulators.Set, newClient func(context.Context, ...option.ClientOption) (C, error)) C {
	t.Helper()
	c, err := newClient(t.Context(), set.RESTClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRESTClients: the official Go REST clients work on the shared
// address: Cloud Run's CreateService and its operation's polling (through
// the shared Operations, GET /v2/…/operations/…), Artifact Registry's
// GetRepository, Resource Manager's GetProject.
func TestRESTClients(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context(), emulators.WithResourceManagerOptions(resourcemanagerfake.WithProject("my-project", "123")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	ctx := t.Context()
	sc := restClient(t, set, run.NewServicesRESTClient)
	op, err := sc.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/my-project/locations/us-central1", ServiceId: "api",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "us-docker.pkg.dev/cloudrun/container/hello"}}}},
	})
	if err != nil {
		t.Fatalf("CreateService over REST: %v", err)
	}
	svc, err := sc.CreateServiceOperation(op.Name()).Poll(ctx)
	if err != nil || svc.GetName() != "projects/my-project/locations/us-central1/services/api" {
		t.Errorf("polling %s over REST = %v, %v; want the service", op.Name(), svc, err)
	}
	if _, err := sc.GetService(ctx, &runpb.GetServiceRequest{Name: "projects/my-project/locations/us-central1/services/none"}); status.Code(gcperr.FromREST(err)) != codes.NotFound {
		t.Errorf("GetService(none) over REST: %v, want NOT_FOUND", err)
	}
	ar := restClient(t, set, artifactregistry.NewRESTClient)
	if repo, err := ar.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: "projects/my-project/locations/us-central1/repositories/apps"}); err != nil || repo.GetName() != "projects/my-project/locations/us-central1/repositories/apps" {
		t.Errorf("GetRepository over REST = %v, %v", repo, err)
	}
	rm := restClient(t, set, resourcemanager.NewProjectsRESTClient)
	if p, err := rm.GetProject(ctx, &resourcemanagerpb.GetProjectRequest{Name: "projects/my-project"}); err != nil || p.GetProjectId() != "my-project" {
		t.Errorf("GetProject over REST = %v, %v", p, err)
	}
}
