package emulators_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.uber.org/goleak"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/wif"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, opts ...emulators.Option) *emulators.Set {
	t.Helper()
	set, err := emulators.Start(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := set.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return set
}

func TestCloudRunThroughOneAddress(t *testing.T) {
	t.Parallel()
	set := start(t)
	ctx := t.Context()
	c, err := run.NewServicesClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	op, err := c.CreateService(ctx, &runpb.CreateServiceRequest{
		Parent: "projects/p/locations/us-central1", ServiceId: "web",
		Service: &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "img"}}}},
	})
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	svc, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	got, ok := set.CloudRun().Service("projects/p/locations/us-central1/services/web")
	if !ok {
		t.Fatal("the Cloud Run emulator has no service web")
	}
	if diff := cmp.Diff(got, svc, protocmp.Transform()); diff != "" {
		t.Errorf("service mismatch (-emulator +client):\n%s", diff)
	}
	// The long-running operation is polled over the same address.
	if _, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()}); err != nil {
		t.Errorf("GetOperation(%s): %v", op.Name(), err)
	}
	// Fault injection works on the mounted emulator.
	set.CloudRun().InjectError(runpb.Services_GetService_FullMethodName, status.Error(codes.PermissionDenied, "injected"), 1)
	if _, err := c.GetService(ctx, &runpb.GetServiceRequest{Name: svc.GetName()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetService after InjectError = %v, want PERMISSION_DENIED", err)
	}
	if n := set.CloudRun().Count("GetService"); n != 1 {
		t.Errorf("Count(GetService) = %d, want 1", n)
	}
}

func TestArtifactRegistryAndOCIThroughOneAddress(t *testing.T) {
	t.Parallel()
	set := start(t, emulators.WithProject("proj"), emulators.WithRegion("europe-west1"), emulators.WithRepository("images"))
	ctx := t.Context()
	if want := set.Addr + "/proj/images"; set.ImageRepository() != want {
		t.Errorf("ImageRepository() = %q, want %q", set.ImageRepository(), want)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(set.ImageRepository()+"/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tr := remote.WithTransport(set.HTTPClient().Transport)
	if err := remote.Write(ref, img, tr, remote.WithContext(ctx)); err != nil {
		t.Fatalf("remote.Write(%s): %v", ref, err)
	}
	desc, err := remote.Head(ref, tr, remote.WithContext(ctx))
	if err != nil {
		t.Fatalf("remote.Head(%s): %v", ref, err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != want {
		t.Errorf("Head digest = %s, want %s", desc.Digest, want)
	}

	c, err := artifactregistry.NewClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	repo := "projects/proj/locations/europe-west1/repositories/images"
	r, err := c.GetRepository(ctx, &artifactregistrypb.GetRepositoryRequest{Name: repo})
	if err != nil {
		t.Fatalf("GetRepository(%s): %v", repo, err)
	}
	if r.GetFormat() != artifactregistrypb.Repository_DOCKER || r.GetRegistryUri() != set.ImageRepository() {
		t.Errorf("seeded repository = format %v, registry_uri %q; want DOCKER, %q", r.GetFormat(), r.GetRegistryUri(), set.ImageRepository())
	}
	tag, err := c.GetTag(ctx, &artifactregistrypb.GetTagRequest{Name: repo + "/packages/app/tags/v1"})
	if err != nil {
		t.Fatalf("GetTag: %v", err)
	}
	if !strings.HasSuffix(tag.GetVersion(), "/"+want.String()) {
		t.Errorf("tag version = %q, want …/%s", tag.GetVersion(), want)
	}
	// Operations of Artifact Registry are found although Cloud Run serves
	// the same service on the address first.
	op, err := c.CreateRepository(ctx, &artifactregistrypb.CreateRepositoryRequest{
		Parent: "projects/proj/locations/europe-west1", RepositoryId: "more",
		Repository: &artifactregistrypb.Repository{Format: artifactregistrypb.Repository_DOCKER},
	})
	if err != nil {
		t.Fatalf("CreateRepository: %v", err)
	}
	got, err := c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.Name()})
	if err != nil || !got.GetDone() {
		t.Errorf("GetOperation(%s) = %v, %v; want the done operation", op.Name(), got, err)
	}
	_, err = c.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: "projects/proj/locations/europe-west1/operations/nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetOperation(unknown) = %v, want NOT_FOUND", err)
	}
}

func TestResourceManagerAndIAMThroughOneAddress(t *testing.T) {
	t.Parallel()
	set := start(t,
		emulators.WithResourceManagerOptions(resourcemanagerfake.WithProject("proj", "123456789012")),
		emulators.WithIAMOptions(iamfake.WithProject("proj", "123456789012")))
	ctx := t.Context()

	rm, err := resourcemanager.NewProjectsClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer rm.Close()
	p, err := rm.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: "projects/proj"})
	if err != nil {
		t.Fatalf("GetIamPolicy: %v", err)
	}
	if diff := cmp.Diff(set.ResourceManager().Policy("projects/proj"), p, protocmp.Transform()); diff != "" {
		t.Errorf("policy mismatch (-emulator +client):\n%s", diff)
	}

	svc, err := iam.NewService(ctx, set.IAMClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	pools := svc.Projects.Locations.WorkloadIdentityPools
	if _, err := pools.Create("projects/proj/locations/global", &iam.WorkloadIdentityPool{DisplayName: "GitHub"}).
		WorkloadIdentityPoolId("github").Context(ctx).Do(); err != nil {
		t.Fatalf("creating a pool: %v", err)
	}
	const pool = "projects/123456789012/locations/global/workloadIdentityPools/github"
	got, err := pools.Get("projects/proj/locations/global/workloadIdentityPools/github").Context(ctx).Do()
	if err != nil {
		t.Fatalf("getting the pool: %v", err)
	}
	if got.Name != pool || set.IAM().Pool(pool) == nil {
		t.Errorf("pool = %q (in emulator: %v), want %q", got.Name, set.IAM().Pool(pool) != nil, pool)
	}
}

// get fetches url with the set's client and returns the status and body.
func get(t *testing.T, set *emulators.Set, method, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := set.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestSTSAndOIDCThroughOneAddress(t *testing.T) {
	t.Parallel()
	set := start(t)
	code, body := get(t, set, http.MethodGet, set.OIDCDiscoveryURL(), "")
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(body), &disc); code != http.StatusOK || err != nil {
		t.Fatalf("discovery = %d %q (%v)", code, body, err)
	}
	if want := "http://" + set.Addr + "/.well-known/jwks"; disc.JWKSURI != want {
		t.Errorf("jwks_uri = %q, want %q (on the shared address)", disc.JWKSURI, want)
	}
	if code, body := get(t, set, http.MethodGet, disc.JWKSURI, ""); code != http.StatusOK || !strings.Contains(body, `"keys"`) {
		t.Errorf("JWKS = %d %q, want the keys", code, body)
	}
	set.STS().SetActionsClaims(wif.Claims{"repository": "octo/app"})
	code, body = get(t, set, http.MethodGet, set.ActionsRequestURL()+"&audience=x", set.STS().RequestToken())
	if code != http.StatusOK || !strings.Contains(body, `"value"`) {
		t.Errorf("Actions token = %d %q, want {\"value\": JWT}", code, body)
	}
	if n := set.STS().Count(stsfake.MethodActions); n != 1 {
		t.Errorf("STS().Count(MethodActions) = %d, want 1", n)
	}
	// An empty exchange reaches STS, which answers in its error shape.
	code, body = get(t, set, http.MethodPost, set.TokenURL(), "")
	if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
		t.Errorf("POST %s = %d %q, want STS's 400 error", set.TokenURL(), code, body)
	}
	if n := set.STS().Count(stsfake.MethodToken); n != 1 {
		t.Errorf("STS().Count(MethodToken) = %d, want 1", n)
	}
}

func TestDiscoveryAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	set := start(t)
	code, body := get(t, set, http.MethodGet, "http://"+set.Addr+emulators.DiscoveryPath, "")
	var e emulators.Endpoints
	if err := json.Unmarshal([]byte(body), &e); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s = %d %q (%v)", emulators.DiscoveryPath, code, body, err)
	}
	if diff := cmp.Diff(set.Endpoints(), e); diff != "" {
		t.Errorf("Endpoints mismatch (-want +got):\n%s", diff)
	}
	if e.Run != set.Addr || e.Registry != set.Addr || e.STSTokenURL != "http://"+set.Addr+"/v1/token" {
		t.Errorf("Endpoints = %+v, want everything on %s", e, set.Addr)
	}
	if code, body := get(t, set, http.MethodGet, "http://"+set.Addr+"/nope", ""); code != http.StatusNotFound || !strings.Contains(body, "/v2/") {
		t.Errorf("GET /nope = %d %q, want 404 listing the routes", code, body)
	}
	conn, err := grpc.NewClient(set.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Invoke(t.Context(), "/google.pubsub.v1.Publisher/Publish", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "google.cloud.run.v2.Services") {
		t.Errorf("unknown gRPC service = %v, want UNIMPLEMENTED naming the services served", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	set, err := emulators.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // closes the set
	if err := set.Close(); err != nil {
		t.Errorf("Close after ctx cancel = %v", err)
	}
	if err := set.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if resp, err := set.HTTPClient().Get("http://" + set.Addr + emulators.DiscoveryPath); err == nil {
		resp.Body.Close()
		t.Errorf("GET after Close answered %s, want a connection error", resp.Status)
	}
	set.HTTPClient().CloseIdleConnections()

	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if _, err := emulators.Start(done); err == nil {
		t.Error("Start with a done ctx = nil error")
	}
	if _, err := emulators.Start(t.Context(), emulators.WithAddress("256.1.1.1:0")); err == nil {
		t.Error("Start on a bad address = nil error")
	}
}

func TestMonitoringThroughOneAddress(t *testing.T) {
	t.Parallel()
	set := start(t)
	ctx := t.Context()
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	set.Monitoring().Add(monitoringfake.Sample{Project: "p", Location: "us-central1", Service: "api", Revision: "api-1", Code: 200, End: end, Count: 7})
	c, err := monitoring.NewMetricClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	it := c.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{
		Name:     "projects/p",
		Filter:   `metric.type="run.googleapis.com/request_count"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(end.Add(-time.Hour)), EndTime: timestamppb.New(end.Add(time.Minute))},
	})
	var total int64
	for ts, err := range it.All() {
		if err != nil {
			t.Fatalf("ListTimeSeries through the shared address: %v", err)
		}
		if got := ts.GetResource().GetLabels()["revision_name"]; got != "api-1" {
			t.Errorf("series revision_name = %q, want api-1", got)
		}
		for _, p := range ts.GetPoints() {
			total += p.GetValue().GetInt64Value()
		}
	}
	if total != 7 {
		t.Errorf("request count = %d, want 7", total)
	}
	// The emulator's errors come back with their status.
	_, err = c.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{Name: "projects/p"}).Next()
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListTimeSeries without a filter = %v, want INVALID_ARGUMENT", err)
	}
	if n := set.Monitoring().Count("ListTimeSeries"); n < 1 {
		t.Errorf("Monitoring().Calls() = %d, want at least 1", n)
	}
}

// TestProviderCreatedThroughIAMServesSTS: a provider created through the
// emulated IAM API (as `twostage wif apply` creates it) is what STS judges
// a keyless exchange by, with no Go call to register it; disabling it
// through the API makes STS refuse.
func TestProviderCreatedThroughIAMServesSTS(t *testing.T) {
	t.Parallel()
	set := start(t, emulators.WithIAMOptions(iamfake.WithProject("proj", "123456789012")))
	ctx := t.Context()
	svc, err := iam.NewService(ctx, set.IAMClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	pools := svc.Projects.Locations.WorkloadIdentityPools
	if _, err := pools.Create("projects/proj/locations/global", &iam.WorkloadIdentityPool{}).WorkloadIdentityPoolId("github").Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	const name = "projects/123456789012/locations/global/workloadIdentityPools/github/providers/actions"
	prov := &iam.WorkloadIdentityPoolProvider{
		Oidc:               &iam.Oidc{IssuerUri: iamfake.GitHubIssuer},
		AttributeMapping:   map[string]string{"google.subject": "assertion.sub", "attribute.repository_id": "assertion.repository_id"},
		AttributeCondition: "assertion.repository_id == '74'",
	}
	if _, err := pools.Providers.Create("projects/proj/locations/global/workloadIdentityPools/github", prov).WorkloadIdentityPoolProviderId("actions").Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	exchange := func(repoID string) (int, string) {
		jwt := set.STS().IssueToken(map[string]any{"sub": "repo:octo/app", "repository_id": repoID, "aud": "https://iam.googleapis.com/" + name}, time.Minute)
		form := url.Values{
			"grant_type": {stsfake.GrantTypeTokenExchange}, "requested_token_type": {stsfake.TokenTypeAccessToken},
			"subject_token_type": {stsfake.TokenTypeJWT}, "scope": {"https://www.googleapis.com/auth/cloud-platform"},
			"audience": {"//iam.googleapis.com/" + name}, "subject_token": {jwt},
		}
		resp, err := set.HTTPClient().PostForm(set.TokenURL(), form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := exchange("74"); code != http.StatusOK {
		t.Errorf("exchange for the provider created through IAM: %d %s, want 200", code, body)
	}
	if code, body := exchange("75"); code != http.StatusBadRequest || !strings.Contains(body, "unauthorized_client") {
		t.Errorf("exchange refused by the condition: %d %s, want 400 unauthorized_client", code, body)
	}
	if _, err := pools.Providers.Patch(name, &iam.WorkloadIdentityPoolProvider{Disabled: true}).UpdateMask("disabled").Context(ctx).Do(); err != nil {
		t.Fatal(err)
	}
	if code, body := exchange("74"); code != http.StatusBadRequest || !strings.Contains(body, "invalid_target") {
		t.Errorf("exchange after disabling the provider: %d %s, want 400 invalid_target", code, body)
	}
}
