package emulators_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	arapi "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/iam/apiv1/iampb"
	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"golang.org/x/oauth2"
	iamv1 "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// TestLeastPrivilege: with IAM enforced (strict: every call needs a token)
// and wif/provision's GitHub setup applied to the emulators, the keyless
// identities can do exactly their step: dev pushes an image and deploys
// dev, but cannot deploy or move traffic in prod; promote moves prod
// traffic but cannot push; a pull request gets no token at all; removing
// one binding breaks exactly the step that needs it (issue 16, item 2).
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	const (
		project, number = "my-project", "123456789012"
		runtimeSA       = "api-runtime@my-project.iam.gserviceaccount.com"
		parent          = "projects/my-project/locations/us-central1"
	)
	clk := fake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	set, err := emulators.Start(t.Context(), emulators.WithStrictIAM(), emulators.WithClock(clk),
		emulators.WithIAMOptions(iamfake.WithProject(project, number), iamfake.WithServiceAccount(project, runtimeSA)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	ctx := t.Context()
	repo := wif.GitHubRepo{Owner: "octo", Name: "app", OwnerID: "7", ID: "42"}
	setup, err := provision.GitHubSetup(provision.GitHubConfig{Project: project, ProjectNumber: number, Repo: repo,
		Region: "us-central1", Repository: "apps", DevService: "api-dev", ProdService: "api", RuntimeServiceAccount: runtimeSA})
	if err != nil {
		t.Fatal(err)
	}

	// The owner (a named principal with roles/owner on the project)
	// creates both services and applies the setup.
	owner := set.STS().MintAccessToken("user:owner@example.com", 24*time.Hour)
	if err := set.ResourceManager().ModifyPolicy("projects/"+project, func(p *iampb.Policy) {
		p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/owner", Members: []string{"user:owner@example.com"}})
	}); err != nil {
		t.Fatal(err)
	}
	placeholder := set.ImageRepository() + "/api@sha256:" + strings.Repeat("0", 64)
	for _, name := range []string{"api-dev", "api"} {
		if err := set.CloudRun().SetService(&runpb.Service{Name: parent + "/services/" + name, Template: &runpb.RevisionTemplate{
			ServiceAccount: runtimeSA, Containers: []*runpb.Container{{Image: placeholder}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	grpcAs := func(token string) []option.ClientOption {
		return append(set.ClientOptions(), option.WithGRPCDialOption(grpc.WithPerRPCCredentials(emulation.Bearer(token))))
	}
	services, err := run.NewServicesClient(ctx, grpcAs(owner)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { services.Close() })
	projects, err := resourcemanager.NewProjectsClient(ctx, grpcAs(owner)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { projects.Close() })
	repos, err := arapi.NewClient(ctx, grpcAs(owner)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repos.Close() })
	iamSvc, err := iamv1.NewService(ctx, set.IAMClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	mgr := provision.NewManager(provision.WithIAMService(iamSvc), provision.WithProjectsClient(projects),
		provision.WithPolicyStore(provision.ResourceRunService, provision.ClientPolicyStore(services)),
		provision.WithPolicyStore(provision.ResourceRepository, provision.ClientPolicyStore(repos)), provision.WithClock(clk))
	apply := func(s provision.Setup) {
		t.Helper()
		plan, err := mgr.Plan(ctx, s)
		if err == nil {
			err = mgr.Apply(ctx, plan)
		}
		if err != nil {
			t.Fatalf("applying the setup: %v", err)
		}
	}
	apply(setup)

	// Each step's token, through the keyless exchange.
	tokenFor := func(claims wif.Claims) (string, error) {
		claimsAny := map[string]any{}
		for k, v := range claims {
			claimsAny[k] = v
		}
		set.STS().SetActionsClaims(claimsAny)
		gh := &wif.GitHubOIDC{RequestURL: set.ActionsRequestURL(), RequestToken: set.STS().RequestToken(), Audience: setup.Provider.DefaultTokenAudience(), HTTPClient: set.HTTPClient(), Clock: clk}
		ts, err := wif.TokenSource(ctx, setup.Provider, gh, wif.WithTokenURL(set.TokenURL()), wif.WithHTTPClient(set.HTTPClient()), wif.WithClock(clk))
		if err != nil {
			return "", err
		}
		tok, err := ts.Token()
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	must := func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	dev := must(tokenFor(wif.GitHubClaims(repo, "push", "refs/heads/main")))
	promoteClaims := wif.GitHubClaims(repo, "workflow_dispatch", "refs/heads/main")
	promoteClaims["environment"] = "production"
	promote := must(tokenFor(promoteClaims))
	if _, err := tokenFor(wif.GitHubClaims(repo, "pull_request", "refs/pull/1/merge")); !errors.Is(err, wif.ErrConditionRejected) {
		t.Errorf("a pull request's exchange = %v, want no token (the condition rejects it)", err)
	}

	stageAs := func(token, name string) *cloudrun.Service {
		t.Helper()
		sc, err := run.NewServicesClient(ctx, grpcAs(token)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sc.Close() })
		rc, err := run.NewRevisionsClient(ctx, grpcAs(token)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		s, err := cloudrun.New(ctx, parent+"/services/"+name, cloudrun.WithServicesClient(sc), cloudrun.WithRevisionsClient(rc), cloudrun.WithClock(clk),
			cloudrun.WithRetry(twostage.Retry{Attempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	registryAs := func(token string) *artifactregistry.Registry {
		t.Helper()
		r, err := artifactregistry.New(ctx, parent+"/repositories/apps", artifactregistry.WithClientOptions(grpcAs(token)...),
			artifactregistry.WithHost(set.RegistryHost()), artifactregistry.WithClock(clk),
			artifactregistry.WithRegistryOptions(oci.WithInsecure(), oci.WithTokenSource(oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}))))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	denied := func(what string, err error, perm string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "Permission '"+perm+"' denied") {
			t.Errorf("%s = %v, want PERMISSION_DENIED for %s", what, err, perm)
		}
	}
	// The registry refuses a push with HTTP 403 DENIED (IAM's message is in
	// the body, which HEAD answers do not carry).
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
			t.Errorf("%s = %v, want the registry's 403", what, err)
		}
	}
	push := func(r *artifactregistry.Registry, seed string) (registry.Artifact, error) {
		return r.Push(ctx, r.Image("api")+":"+strings.Repeat(seed, 40), fake.NewImage(seed))
	}

	// dev: pushes and deploys dev; cannot touch prod.
	devReg := registryAs(dev)
	art, err := push(devReg, "a")
	if err != nil {
		t.Fatalf("dev pushing its image: %v", err)
	}
	devRel := stage.Release{Artifact: art, Revision: "aaaaaaa", Traffic: stage.RouteAll}
	if _, err := stageAs(dev, "api-dev").Deploy(ctx, devRel); err != nil {
		t.Errorf("dev deploying dev: %v", err)
	}
	devOnProd := stageAs(dev, "api")
	_, err = devOnProd.Deploy(ctx, stage.Release{Artifact: art, Revision: "v1-0-0", Traffic: stage.RouteNone})
	denied("dev deploying prod", err, "run.services.get")
	_, err = devOnProd.SetSplit(ctx, traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}}})
	denied("dev moving prod traffic", err, "run.services.get")

	// promote: moves prod traffic, cannot push.
	prod := stageAs(promote, "api")
	sp, err := prod.Split(ctx)
	if err != nil {
		t.Fatalf("promote reading prod: %v", err)
	}
	if _, err := prod.SetSplit(ctx, sp); err != nil {
		t.Errorf("promote writing prod traffic: %v", err)
	}
	_, err = push(registryAs(promote), "b")
	refused("promote pushing an image", err)

	// dev cannot grant itself more on the project, nor read metrics (the
	// setup gives Monitoring to no one unless asked).
	devProjects, err := resourcemanager.NewProjectsClient(ctx, grpcAs(dev)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devProjects.Close() })
	_, err = devProjects.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: "projects/" + project, Policy: &iampb.Policy{}})
	denied("dev setting the project's policy", err, "resourcemanager.projects.setIamPolicy")
	devMetrics, err := monitoring.NewMetricClient(ctx, grpcAs(dev)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devMetrics.Close() })
	_, err = devMetrics.ListTimeSeries(ctx, &monitoringpb.ListTimeSeriesRequest{Name: "projects/" + project, Filter: `metric.type="run.googleapis.com/request_count"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(clk.Now().Add(-time.Hour)), EndTime: timestamppb.New(clk.Now())}}).Next()
	denied("dev reading Cloud Monitoring", err, "monitoring.timeSeries.list")

	// Without a token, nothing (strict).
	_, err = services.GetService(ctx, &runpb.GetServiceRequest{Name: parent + "/services/api"})
	if err != nil {
		t.Fatalf("the owner reading prod: %v", err)
	}
	anon, err := run.NewServicesClient(ctx, set.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { anon.Close() })
	if _, err := anon.GetService(ctx, &runpb.GetServiceRequest{Name: parent + "/services/api"}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a call without a token in strict mode = %v, want UNAUTHENTICATED", err)
	}

	// Removing dev's repository binding breaks its push, and only that.
	if _, err := repos.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: parent + "/repositories/apps", Policy: &iampb.Policy{}}); err != nil {
		t.Fatal(err)
	}
	_, err = push(devReg, "c")
	refused("dev pushing after its repository binding was removed", err)
	if _, err := stageAs(dev, "api-dev").Deploy(ctx, stage.Release{Artifact: art, Revision: "aaaaaaa", Traffic: stage.RouteAll}); err != nil {
		t.Errorf("dev re-deploying dev after the repository binding was removed: %v", err)
	}
}
