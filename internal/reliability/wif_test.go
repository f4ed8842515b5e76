package reliability

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	artifactregistry "cloud.google.com/go/artifactregistry/apiv1"
	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	iam "google.golang.org/api/iam/v1"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

const (
	wifProject = "my-proj"
	wifNumber  = "123456789012"
	runtimeSA  = "app-runtime@my-proj.iam.gserviceaccount.com"
	// wifRepository is the Artifact Registry repository of the setup
	// (Region "europe-west1", Repository "images").
	wifRepository = "projects/" + wifProject + "/locations/europe-west1/repositories/images"
	// Bindings made by someone else, which Apply must never lose.
	othersRole   = "roles/owner"
	othersMember = "user:admin@example.com"
)

// wifEnv is provision.Manager over the IAM and Resource Manager emulators, both
// behind one injector.
type wifEnv struct {
	run      *cloudrunfake.Server
	services map[string]bool     // the Cloud Run services the setup binds on
	inspect  *run.ServicesClient // reads their policies past the injector
	ar       *artifactregistryfake.Server
	repos    map[string]bool          // the repositories the setup binds on
	arRead   *artifactregistry.Client // reads their policies past the injector
	iam      *iamfake.Server
	rm       *resourcemanagerfake.Server
	in       *injector
	chk      *Checker
	mgr      *provision.Manager
	setup    provision.Setup
}

var _ flowEnv = (*wifFlow)(nil)

type wifFlow struct{ *wifEnv }

func newWIFEnv(t testing.TB) *wifFlow {
	t.Helper()
	ctx := context.Background()
	e := &wifEnv{in: &injector{}, chk: &Checker{}}
	var err error
	e.iam, err = iamfake.NewServer(iamfake.WithoutListener(), iamfake.WithProject(wifProject, wifNumber), iamfake.WithServiceAccount(wifProject, runtimeSA))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.iam.Close() })
	if err := e.iam.ModifyServiceAccountPolicy(runtimeSA, func(p *iam.Policy) {
		p.Bindings = append(p.Bindings, &iam.Binding{Role: "roles/iam.serviceAccountTokenCreator", Members: []string{othersMember}})
	}); err != nil {
		t.Fatal(err)
	}
	rm, err := resourcemanagerfake.NewServer(resourcemanagerfake.WithoutListener(), resourcemanagerfake.WithProject(wifProject, wifNumber),
		resourcemanagerfake.WithPolicy("projects/"+wifProject, &iampb.Policy{Bindings: []*iampb.Binding{{Role: othersRole, Members: []string{othersMember}}}}))
	if err != nil {
		t.Fatal(err)
	}
	e.rm = rm
	svc, err := iam.NewService(ctx, serveHTTP(t, e.in, e.iam.Handler())...)
	if err != nil {
		t.Fatal(err)
	}
	projects, err := resourcemanager.NewProjectsClient(ctx, serveGRPC(t, e.in, rm.Register)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { projects.Close() })
	// wif's project policy store keeps the gapic client's own retries,
	// which sleep on the wall clock (up to the 60s default deadline) on
	// UNAVAILABLE, ignoring WithClock, and turn the code into
	// DEADLINE_EXCEEDED: reported. Disable them here so the matrix neither
	// sleeps nor waits a minute; Manager's own retries still apply.
	projects.CallOptions.GetIamPolicy, projects.CallOptions.SetIamPolicy = nil, nil
	e.run, err = cloudrunfake.NewServer(cloudrunfake.WithoutListener())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.run.Close() })
	services, err := run.NewServicesClient(ctx, serveGRPC(t, e.in, e.run.Register)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { services.Close() })
	// A second client past no injector, for the checks: their reads are not
	// calls of the flow.
	if e.inspect, err = run.NewServicesClient(ctx, serveGRPC(t, &injector{}, e.run.Register)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.inspect.Close() })
	e.ar, err = artifactregistryfake.NewServer(artifactregistryfake.WithoutListener(), artifactregistryfake.WithRegistryHost("europe-west1-docker.pkg.dev"), artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
		Name: wifRepository, Format: artifactregistrypb.Repository_DOCKER,
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ar.Close() })
	repos, err := artifactregistry.NewClient(ctx, serveGRPC(t, e.in, e.ar.Register)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repos.Close() })
	if e.arRead, err = artifactregistry.NewClient(ctx, serveGRPC(t, &injector{}, e.ar.Register)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.arRead.Close() })
	e.mgr = provision.NewManager(provision.WithIAMService(svc), provision.WithProjectsClient(projects),
		provision.WithPolicyStore(provision.ResourceRunService, provision.ClientPolicyStore(services)),
		provision.WithPolicyStore(provision.ResourceRepository, provision.ClientPolicyStore(repos)), provision.WithClock(fake.NewClock(time.Time{})))
	// The GitHub setup's grants on the service account, plus one on the
	// project: the bindings these two emulators hold.
	e.setup, err = provision.GitHubSetup(provision.GitHubConfig{
		Project: wifProject, ProjectNumber: wifNumber,
		Repo:   wif.GitHubRepo{Owner: "octo-org", Name: "app", OwnerID: "1000001", ID: "5000005"},
		Region: "europe-west1", Repository: "images", DevService: "app-dev", ProdService: "app",
		RuntimeServiceAccount: runtimeSA,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Cloud Run services' bindings go to the Cloud Run emulator, where
	// both services exist; the repository's to the Artifact Registry
	// emulator, where someone else's binding waits too.
	for _, b := range e.setup.Bindings {
		if b.Resource.Kind != provision.ResourceRepository || e.repos[b.Resource.Name] {
			continue
		}
		if b.Resource.Name != wifRepository {
			t.Fatalf("the setup binds on repository %s, the emulator holds %s", b.Resource.Name, wifRepository)
		}
		if e.repos == nil {
			e.repos = map[string]bool{}
		}
		e.repos[b.Resource.Name] = true
		if _, err := repos.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: b.Resource.Name, Policy: &iampb.Policy{
			Bindings: []*iampb.Binding{{Role: "roles/artifactregistry.reader", Members: []string{othersMember}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.repos) == 0 {
		t.Fatal("the GitHub setup declares no repository binding: the WIF flow would not exercise the Artifact Registry policy store")
	}
	e.setup.Bindings = append(e.setup.Bindings, provision.Binding{
		Resource: provision.ProjectResource(wifProject), Role: "roles/monitoring.viewer",
		Member: "principalSet://iam.googleapis.com/" + e.setup.Pool.Name() + "/attribute.stage/promote",
	})
	for _, b := range e.setup.Bindings {
		if b.Resource.Kind != provision.ResourceRunService || e.services[b.Resource.Name] {
			continue
		}
		if e.services == nil {
			e.services = map[string]bool{}
		}
		e.services[b.Resource.Name] = true
		parent, id, _ := strings.Cut(b.Resource.Name, "/services/")
		op, err := services.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: id, Service: &runpb.Service{
			Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: "europe-west1-docker.pkg.dev/my-proj/images/app@sha256:" + strings.Repeat("a", 64)}}},
		}})
		if err == nil {
			_, err = op.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("creating %s: %v", b.Resource.Name, err)
		}
		// Someone else's binding on the service, which Apply must keep.
		if _, err := services.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: b.Resource.Name, Policy: &iampb.Policy{
			Bindings: []*iampb.Binding{{Role: "roles/run.invoker", Members: []string{othersMember}}},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.services) == 0 {
		t.Fatal("the GitHub setup declares no Cloud Run service binding: the WIF flow would not exercise the Cloud Run policy store")
	}
	e.in.setAfter(e.checkAll)
	return &wifFlow{e}
}

// repoPolicy returns the repository's policy as the emulator holds it.
func (e *wifEnv) repoPolicy(name string) []*iampb.Binding {
	p, err := e.arRead.GetIamPolicy(context.Background(), &iampb.GetIamPolicyRequest{Resource: name})
	if err != nil {
		panic(fmt.Sprintf("reading the policy of %s: %v", name, err))
	}
	return p.GetBindings()
}

// runPolicy returns the Cloud Run service's policy as the emulator holds it.
func (e *wifEnv) runPolicy(name string) []*iampb.Binding {
	p, err := e.inspect.GetIamPolicy(context.Background(), &iampb.GetIamPolicyRequest{Resource: name})
	if err != nil {
		panic(fmt.Sprintf("reading the policy of %s: %v", name, err))
	}
	return p.GetBindings()
}

func (e *wifEnv) checkAll() {
	e.chk.Expect(hasMember(e.rm.Policy("projects/"+wifProject).GetBindings(), othersRole, othersMember),
		"project policy lost the binding %s %s made by someone else", othersRole, othersMember)
	var sa []*iampb.Binding
	for _, b := range e.iam.ServiceAccountPolicy(runtimeSA).Bindings {
		sa = append(sa, &iampb.Binding{Role: b.Role, Members: b.Members})
	}
	e.chk.Expect(hasMember(sa, "roles/iam.serviceAccountTokenCreator", othersMember),
		"service account policy lost the binding made by someone else")
	all := [][]*iampb.Binding{e.rm.Policy("projects/" + wifProject).GetBindings(), sa}
	for _, name := range slices.Sorted(maps.Keys(e.services)) {
		bs := e.runPolicy(name)
		e.chk.Expect(hasMember(bs, "roles/run.invoker", othersMember), "service %s lost the binding made by someone else", name)
		all = append(all, bs)
	}
	for _, name := range slices.Sorted(maps.Keys(e.repos)) {
		bs := e.repoPolicy(name)
		e.chk.Expect(hasMember(bs, "roles/artifactregistry.reader", othersMember), "repository %s lost the binding made by someone else", name)
		all = append(all, bs)
	}
	for _, bs := range all {
		for _, b := range bs {
			for _, m := range b.Members {
				e.chk.Expect(!strings.HasSuffix(m, "/*"), "binding %s grants %s, a whole pool", b.Role, m)
			}
		}
	}
}

func hasMember(bs []*iampb.Binding, role, member string) bool {
	for _, b := range bs {
		if b.Role == role && slices.Contains(b.Members, member) {
			return true
		}
	}
	return false
}

func (f *wifFlow) injector() *injector         { return f.in }
func (f *wifFlow) checker() *Checker           { return f.chk }
func (f *wifFlow) setup(context.Context) error { return nil }
func (f *wifFlow) begin()                      { f.in.reset() }
func (f *wifFlow) calls() []string             { return f.in.calls() }

func (f *wifFlow) run(ctx context.Context) error {
	p, err := f.mgr.Plan(ctx, f.wifEnv.setup)
	if err != nil {
		return err
	}
	return f.mgr.Apply(ctx, p)
}

// wifState is what a WIF apply must converge to.
type wifState struct {
	Pool, Provider bool
	Condition      string
	Project, SA    []string // "role member", sorted
	Services       []string // "service role member", sorted
	Repositories   []string // "repository role member", sorted
}

func (f *wifFlow) state() any {
	var s wifState
	s.Pool = f.iam.Pool(f.wifEnv.setup.Pool.Name()) != nil
	if p := f.iam.Provider(f.wifEnv.setup.Provider.Name()); p != nil {
		s.Provider, s.Condition = true, p.AttributeCondition
	}
	for _, b := range f.rm.Policy("projects/" + wifProject).GetBindings() {
		for _, m := range b.Members {
			s.Project = append(s.Project, b.Role+" "+m)
		}
	}
	for _, b := range f.iam.ServiceAccountPolicy(runtimeSA).Bindings {
		for _, m := range b.Members {
			s.SA = append(s.SA, b.Role+" "+m)
		}
	}
	for name := range f.services {
		for _, b := range f.runPolicy(name) {
			for _, m := range b.Members {
				s.Services = append(s.Services, name+" "+b.Role+" "+m)
			}
		}
	}
	for name := range f.repos {
		for _, b := range f.repoPolicy(name) {
			for _, m := range b.Members {
				s.Repositories = append(s.Repositories, name+" "+b.Role+" "+m)
			}
		}
	}
	slices.Sort(s.Repositories)
	slices.Sort(s.Services)
	slices.Sort(s.Project)
	slices.Sort(s.SA)
	return s
}

func (f *wifFlow) converged(ctx context.Context) error {
	p, err := f.mgr.Plan(ctx, f.wifEnv.setup)
	if err != nil {
		return err
	}
	if !p.Empty() {
		return fmt.Errorf("a plan after the second apply is not empty:\n%s", p)
	}
	return nil
}
