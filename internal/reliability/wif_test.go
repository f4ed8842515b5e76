package reliability

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	iam "google.golang.org/api/iam/v1"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

const (
	wifProject = "my-proj"
	wifNumber  = "123456789012"
	runtimeSA  = "app-runtime@my-proj.iam.gserviceaccount.com"
	// Bindings made by someone else, which Apply must never lose.
	othersRole   = "roles/owner"
	othersMember = "user:admin@example.com"
)

// wifEnv is provision.Manager over the IAM and Resource Manager emulators, both
// behind one injector.
type wifEnv struct {
	iam   *iamfake.Server
	rm    *resourcemanagerfake.Server
	in    *injector
	chk   *Checker
	mgr   *provision.Manager
	setup provision.Setup
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
	e.mgr = provision.NewManager(provision.WithIAMService(svc), provision.WithProjectsClient(projects), provision.WithClock(fake.NewClock(time.Time{})))
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
	e.setup.Bindings = slices.DeleteFunc(e.setup.Bindings, func(b provision.Binding) bool { return b.Resource.Kind != provision.ResourceServiceAccount })
	e.setup.Bindings = append(e.setup.Bindings, provision.Binding{
		Resource: provision.ProjectResource(wifProject), Role: "roles/monitoring.viewer",
		Member: "principalSet://iam.googleapis.com/" + e.setup.Pool.Name() + "/attribute.stage/promote",
	})
	e.in.setAfter(e.checkAll)
	return &wifFlow{e}
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
	for _, bs := range [][]*iampb.Binding{e.rm.Policy("projects/" + wifProject).GetBindings(), sa} {
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
