package provision_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/fake/resourcemanagerfake"
	"github.com/twostage/twostage/internal/gcperr"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// memStore is an in-memory provision.PolicyStore with etags, standing in for the
// Cloud Run and Artifact Registry IAM methods.
type memStore struct {
	mu       sync.Mutex // guards policies, seq and writes
	policies map[string]*iampb.Policy
	seq      int
	writes   int
}

func newMemStore() *memStore { return &memStore{policies: map[string]*iampb.Policy{}} }

func (m *memStore) GetPolicy(_ context.Context, resource string) (*iampb.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[resource]
	if !ok {
		m.seq++
		p = &iampb.Policy{Version: 1, Etag: fmt.Appendf(nil, "e%d", m.seq)}
		m.policies[resource] = p
	}
	return proto.Clone(p).(*iampb.Policy), nil
}

func (m *memStore) SetPolicy(_ context.Context, resource string, p *iampb.Policy) (*iampb.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.writes++
	if cur, ok := m.policies[resource]; ok && len(p.Etag) > 0 && string(cur.Etag) != string(p.Etag) {
		return nil, gcperr.Wrap(status.Error(codes.Aborted, "concurrent change"), "writing %q", resource)
	}
	m.seq++
	next := proto.Clone(p).(*iampb.Policy)
	next.Etag = fmt.Appendf(nil, "e%d", m.seq)
	m.policies[resource] = next
	return proto.Clone(next).(*iampb.Policy), nil
}

func (m *memStore) members(resource, role string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, b := range m.policies[resource].GetBindings() {
		if b.Role == role {
			out = append(out, b.Members...)
		}
	}
	return out
}

const runtimeSA = "app-runtime@my-proj.iam.gserviceaccount.com"

type env struct {
	iam   *iamfake.Server
	rm    *resourcemanagerfake.Server
	run   *memStore
	ar    *memStore
	clock *fake.Clock
	mgr   *provision.Manager
	svc   *iam.Service
}

func newEnv(t testing.TB, iamOpts []iamfake.Option, rmOpts ...resourcemanagerfake.Option) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{run: newMemStore(), ar: newMemStore(), clock: fake.NewClock(time.Time{})}
	var err error
	e.iam, err = iamfake.NewServer(append([]iamfake.Option{
		iamfake.WithProject("my-proj", "123456789012"),
		iamfake.WithServiceAccount("my-proj", runtimeSA),
	}, iamOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.iam.Close() })
	rm, err := resourcemanagerfake.NewServer(append([]resourcemanagerfake.Option{resourcemanagerfake.WithProject("my-proj", "123456789012")}, rmOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.rm = rm
	t.Cleanup(func() { _ = rm.Close() })
	e.svc, err = iam.NewService(ctx, e.iam.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	projects, err := resourcemanager.NewProjectsClient(ctx, rm.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { projects.Close() })
	e.mgr = provision.NewManager(
		provision.WithIAMService(e.svc),
		provision.WithProjectsClient(projects),
		provision.WithPolicyStore(provision.ResourceRunService, e.run),
		provision.WithPolicyStore(provision.ResourceRepository, e.ar),
		provision.WithClock(e.clock),
	)
	return e
}

// onSetIamPolicy runs f at the start of every SetIamPolicy the Resource
// Manager emulator receives, with its 1-based count, before the etag is
// checked (the emulator's WithErrorInjection, passing every call).
func onSetIamPolicy(f func(n int)) resourcemanagerfake.Option {
	var mu sync.Mutex // guards n
	n := 0
	return resourcemanagerfake.WithErrorInjection(func(method string, _ any) error {
		if method != resourcemanagerpb.Projects_SetIamPolicy_FullMethodName {
			return nil
		}
		mu.Lock()
		n++
		k := n
		mu.Unlock()
		f(k)
		return nil
	})
}

// fullSetup is GitHubSetup plus a project-level grant the rollout gates
// need (monitoring has no narrower resource).
func fullSetup() provision.Setup {
	s := testSetup()
	s.Bindings = append(s.Bindings, provision.Binding{
		Resource: provision.ProjectResource("my-proj"),
		Role:     "roles/monitoring.viewer",
		Member:   "principalSet://" + poolBase + "attribute.stage/prod",
	})
	return s
}

func TestPlanApplyPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	s := fullSetup()

	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, "+ pool projects/123456789012/locations/global/workloadIdentityPools/github",
		"+ provider projects/123456789012/locations/global/workloadIdentityPools/github/providers/github-actions")
	for _, b := range s.Bindings {
		want = append(want, "+ binding "+b.String())
	}
	if diff := cmp.Diff(want, strings.Split(p.String(), "\n")); diff != "" {
		t.Errorf("Plan on an empty project mismatch (-want +got):\n%s", diff)
	}

	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	again, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Empty() || again.String() != "no changes" {
		t.Errorf("Plan after Apply = %q, want no changes", again.String())
	}

	// What the emulators hold.
	prov := e.iam.Provider(s.Provider.Name())
	if prov == nil || prov.AttributeCondition != s.Provider.AttributeCondition || prov.Oidc.IssuerUri != wif.GitHubIssuer {
		t.Errorf("provider in the emulator = %+v, want the declared condition and issuer", prov)
	}
	if diff := cmp.Diff(s.Provider.AttributeMapping, prov.AttributeMapping); diff != "" {
		t.Errorf("provider mapping mismatch (-want +got):\n%s", diff)
	}
	sa := e.iam.ServiceAccountPolicy(runtimeSA)
	if len(sa.Bindings) != 1 || sa.Bindings[0].Role != "roles/iam.serviceAccountUser" || len(sa.Bindings[0].Members) != 3 {
		t.Errorf("service account policy = %+v, want one serviceAccountUser binding with the dev, release and promote members", sa.Bindings)
	}
	proj := e.rm.Policy("projects/my-proj")
	if len(proj.Bindings) != 1 || proj.Bindings[0].Role != "roles/monitoring.viewer" {
		t.Errorf("project policy = %v, want the monitoring.viewer binding", proj)
	}
	if got := e.run.members("projects/my-proj/locations/europe-west1/services/app", "roles/run.developer"); len(got) != 2 || !strings.HasSuffix(got[0], "attribute.stage/release") || !strings.HasSuffix(got[1], "attribute.stage/promote") {
		t.Errorf("prod service run.developer members = %v, want the release and promote identities only", got)
	}

	// Applying the same plan again is a no-op.
	writes := e.rm.Count("SetIamPolicy")
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatalf("second Apply of the same plan: %v", err)
	}
	if got := e.rm.Count("SetIamPolicy"); got != writes {
		t.Errorf("second Apply wrote the project policy %d more times, want 0", got-writes)
	}
}

func TestApplyRetriesConcurrentEdit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var e *env
	s := fullSetup()
	other := &iampb.Binding{Role: "roles/owner", Members: []string{"user:admin@example.com"}}
	e = newEnv(t, nil, onSetIamPolicy(func(n int) {
		if n != 1 {
			return
		}
		// Between our read and our write, someone grants owner and adds a
		// member to the very role we are adding.
		err := e.rm.ModifyPolicy("projects/my-proj", func(p *iampb.Policy) {
			p.Bindings = append(p.Bindings, proto.Clone(other).(*iampb.Binding),
				&iampb.Binding{Role: "roles/monitoring.viewer", Members: []string{"group:sre@example.com"}})
		})
		if err != nil {
			t.Error(err)
		}
	}))
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := e.rm.Count("SetIamPolicy"); got != 2 {
		t.Errorf("SetIamPolicy calls = %d, want 2 (one lost to the concurrent edit, one retry)", got)
	}
	if len(e.clock.Sleeps()) == 0 {
		t.Error("no backoff sleep before the retry")
	}
	want := []*iampb.Binding{
		other,
		{Role: "roles/monitoring.viewer", Members: []string{"group:sre@example.com", "principalSet://" + poolBase + "attribute.stage/prod"}},
	}
	if diff := cmp.Diff(want, e.rm.Policy("projects/my-proj").Bindings, protocmp.Transform()); diff != "" {
		t.Errorf("project bindings mismatch (-want +got):\n%s", diff)
	}
}

func TestApplyGivesUpOnEndlessConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var e *env
	e = newEnv(t, nil, onSetIamPolicy(func(n int) {
		_ = e.rm.ModifyPolicy("projects/my-proj", func(p *iampb.Policy) {
			p.Bindings = append(p.Bindings, &iampb.Binding{Role: "roles/viewer", Members: []string{fmt.Sprintf("user:u%d@example.com", n)}})
		})
	}))
	p, err := e.mgr.Plan(ctx, fullSetup())
	if err != nil {
		t.Fatal(err)
	}
	err = e.mgr.Apply(ctx, p)
	if !errors.Is(err, twostage.ErrConflict) || status.Code(err) != codes.Aborted {
		t.Errorf("Apply under endless concurrent edits = %v, want ErrConflict keeping ABORTED", err)
	}
	if got := e.rm.Count("SetIamPolicy"); got != 5 {
		t.Errorf("SetIamPolicy calls = %d, want 5 (the default attempts)", got)
	}
}

func TestApplyKeepsOthersBindings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cond := &expr.Expr{Title: "until 2030", Expression: `request.time < timestamp("2030-01-01T00:00:00Z")`}
	seeded := &iampb.Policy{Version: 3, Bindings: []*iampb.Binding{
		{Role: "roles/editor", Members: []string{"user:dev@example.com"}, Condition: cond},
		{Role: "roles/monitoring.viewer", Members: []string{"group:sre@example.com"}},
	}}
	e := newEnv(t, nil, resourcemanagerfake.WithPolicy("projects/my-proj", seeded))
	p, err := e.mgr.Plan(ctx, fullSetup())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	got := e.rm.Policy("projects/my-proj")
	want := &iampb.Policy{Version: 3, Bindings: []*iampb.Binding{
		{Role: "roles/editor", Members: []string{"user:dev@example.com"}, Condition: cond},
		{Role: "roles/monitoring.viewer", Members: []string{"group:sre@example.com", "principalSet://" + poolBase + "attribute.stage/prod"}},
	}}
	if diff := cmp.Diff(want, got, protocmp.Transform(), protocmp.IgnoreFields(&iampb.Policy{}, "etag")); diff != "" {
		t.Errorf("project policy mismatch (-want +got):\n%s", diff)
	}
}

func TestPlanShowsDriftAndApplyFixesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	s := fullSetup()
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	// Someone loosens the condition and renames the pool by hand.
	provs := e.svc.Projects.Locations.WorkloadIdentityPools
	loose := "assertion.repository_owner_id == \"1000001\""
	if _, err := provs.Providers.Patch(s.Provider.Name(), &iam.WorkloadIdentityPoolProvider{AttributeCondition: loose}).UpdateMask("attributeCondition").Do(); err != nil {
		t.Fatal(err)
	}
	if _, err := provs.Patch(s.Pool.Name(), &iam.WorkloadIdentityPool{DisplayName: "hand-made"}).UpdateMask("displayName").Do(); err != nil {
		t.Fatal(err)
	}
	mapping := maps.Clone(s.Provider.AttributeMapping)
	delete(mapping, "attribute.stage")
	mapping["attribute.extra"] = "assertion.sha"
	if _, err := provs.Providers.Patch(s.Provider.Name(), &iam.WorkloadIdentityPoolProvider{AttributeMapping: mapping}).UpdateMask("attributeMapping").Do(); err != nil {
		t.Fatal(err)
	}
	drift, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`~ pool projects/123456789012/locations/global/workloadIdentityPools/github displayName: "hand-made" → "GitHub Actions"`,
		fmt.Sprintf(`~ provider %s attributeMapping[attribute.extra]: "assertion.sha" → (none)`, s.Provider.Name()),
		fmt.Sprintf(`~ provider %s attributeMapping[attribute.stage]: (none) → %q`, s.Provider.Name(), s.Provider.AttributeMapping["attribute.stage"]),
		fmt.Sprintf(`~ provider %s attributeCondition: %q → %q`, s.Provider.Name(), loose, s.Provider.AttributeCondition),
	}, "\n")
	if got := drift.String(); got != want {
		t.Errorf("Plan after drift:\n%s\nwant:\n%s", got, want)
	}
	if err := e.mgr.Apply(ctx, drift); err != nil {
		t.Fatal(err)
	}
	if final, err := e.mgr.Plan(ctx, s); err != nil || !final.Empty() {
		t.Errorf("Plan after fixing drift = %v, %v; want no changes", final, err)
	}
}

func TestApplyWaitsForOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, []iamfake.Option{iamfake.WithPendingOperations(3)})
	s := fullSetup()
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := e.iam.Count("workloadIdentityPools.operations.get") + e.iam.Count("providers.operations.get"); got != 6 {
		t.Errorf("operation polls = %d, want 6 (3 for the pool, 3 for the provider)", got)
	}
	if len(e.clock.Sleeps()) < 6 {
		t.Errorf("sleeps = %v, want one before each poll", e.clock.Sleeps())
	}
	if final, err := e.mgr.Plan(ctx, s); err != nil || !final.Empty() {
		t.Errorf("Plan after Apply = %v, %v; want no changes", final, err)
	}
}

func TestApplyAfterSomeoneElseCreated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	s := fullSetup()
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	// The pool appears, differently named, between Plan and Apply.
	ps := e.svc.Projects.Locations.WorkloadIdentityPools
	if _, err := ps.Create("projects/my-proj/locations/global", &iam.WorkloadIdentityPool{DisplayName: "other"}).WorkloadIdentityPoolId("github").Do(); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatalf("Apply after a concurrent create: %v", err)
	}
	if got := e.iam.Pool(s.Pool.Name()).DisplayName; got != s.Pool.DisplayName {
		t.Errorf("pool display name = %q, want %q", got, s.Pool.DisplayName)
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	bad := fullSetup()
	bad.Pool.ID = "x"
	if _, err := e.mgr.Plan(ctx, bad); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Plan(invalid setup) = %v, want ErrInvalid", err)
	}
	noStore := provision.NewManager(provision.WithIAMService(e.svc))
	if _, err := noStore.Plan(ctx, fullSetup()); !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "WithPolicyStore") {
		t.Errorf("Plan without a repository store = %v, want ErrInvalid naming WithPolicyStore", err)
	}
	if _, err := provision.NewManager().Plan(ctx, fullSetup()); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Plan without an IAM service = %v, want ErrInvalid", err)
	}
	missingSA := fullSetup()
	missingSA.Bindings[4].Resource = provision.ServiceAccountResource("my-proj", "nobody@my-proj.iam.gserviceaccount.com")
	if _, err := e.mgr.Plan(ctx, missingSA); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Plan with a missing service account = %v, want ErrNotFound", err)
	}
	e.iam.InjectError("workloadIdentityPools.get", status.Error(codes.PermissionDenied, "Permission 'iam.workloadIdentityPools.get' denied"), 1)
	if _, err := e.mgr.Plan(ctx, fullSetup()); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("Plan with a denied read = %v, want the permission error", err)
	}
}

func TestPlanEmptyAndNil(t *testing.T) {
	t.Parallel()
	var p *provision.Diff
	if !p.Empty() || p.String() != "no changes" {
		t.Errorf("nil plan: Empty %v, String %q", p.Empty(), p.String())
	}
	if err := provision.NewManager().Apply(context.Background(), &provision.Diff{}); err != nil {
		t.Errorf("Apply(empty plan) = %v, want nil", err)
	}
}

func BenchmarkPlanNoChanges(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, nil)
	s := fullSetup()
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := e.mgr.Plan(ctx, s)
		if err != nil || !p.Empty() {
			b.Fatal(p, err)
		}
	}
}

func TestApplyRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	e.iam.InjectError("serviceAccounts.setIamPolicy", status.Error(codes.Unavailable, "The service is currently unavailable."), 1)
	p, err := e.mgr.Plan(ctx, fullSetup())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err != nil {
		t.Fatalf("Apply with one 503: %v", err)
	}
	if got := e.iam.Count("serviceAccounts.setIamPolicy"); got != 2 {
		t.Errorf("setIamPolicy calls = %d, want 2", got)
	}
}

func TestApplyResumesAfterFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	s := fullSetup()
	e.iam.InjectError("serviceAccounts.setIamPolicy", status.Error(codes.PermissionDenied, "Permission 'iam.serviceAccounts.setIamPolicy' denied"), 1)
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Apply(ctx, p); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("Apply with a denied write = %v, want the permission error", err)
	}
	rest, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, b := range s.Bindings {
		if b.Resource.Kind == provision.ResourceServiceAccount || b.Resource.Kind == provision.ResourceProject {
			want = append(want, "+ binding "+b.String())
		}
	}
	if diff := cmp.Diff(want, strings.Split(rest.String(), "\n")); diff != "" {
		t.Errorf("Plan after a partial Apply mismatch (-want +got):\n%s", diff)
	}
	if err := e.mgr.Apply(ctx, rest); err != nil {
		t.Fatal(err)
	}
	if final, err := e.mgr.Plan(ctx, s); err != nil || !final.Empty() {
		t.Errorf("Plan after resuming = %v, %v; want no changes", final, err)
	}
}

func TestConcurrentApplies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	s := fullSetup()
	p, err := e.mgr.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	// A second setup granting another role on the same project policy.
	other := fullSetup()
	other.Bindings = []provision.Binding{{Resource: provision.ProjectResource("my-proj"), Role: "roles/logging.viewer", Member: "principalSet://" + poolBase + "attribute.stage/dev"}}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			plan := p
			if i%2 == 1 {
				var err error
				if plan, err = e.mgr.Plan(ctx, other); err != nil {
					errs[i] = err
					return
				}
			}
			errs[i] = e.mgr.Apply(ctx, plan)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Apply %d: %v", i, err)
		}
	}
	got := e.rm.Policy("projects/my-proj")
	want := []*iampb.Binding{
		{Role: "roles/monitoring.viewer", Members: []string{"principalSet://" + poolBase + "attribute.stage/prod"}},
		{Role: "roles/logging.viewer", Members: []string{"principalSet://" + poolBase + "attribute.stage/dev"}},
	}
	sortBindings := func(bs []*iampb.Binding) []*iampb.Binding {
		out := append([]*iampb.Binding(nil), bs...)
		slices.SortFunc(out, func(a, b *iampb.Binding) int { return strings.Compare(a.Role, b.Role) })
		return out
	}
	if diff := cmp.Diff(sortBindings(want), sortBindings(got.Bindings), protocmp.Transform()); diff != "" {
		t.Errorf("project bindings after concurrent applies mismatch (-want +got):\n%s", diff)
	}
	for _, sp := range []provision.Setup{s, other} {
		if final, err := e.mgr.Plan(ctx, sp); err != nil || !final.Empty() {
			t.Errorf("Plan after concurrent applies = %v, %v; want no changes", final, err)
		}
	}
}

func TestApplyLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, nil)
	var buf bytes.Buffer
	m := provision.NewManager(provision.WithIAMService(e.svc), provision.WithPolicyStore(provision.ResourceServiceAccount, provision.ServiceAccountPolicyStore(e.svc)),
		provision.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))), provision.WithClock(e.clock))
	s := fullSetup()
	var bs []provision.Binding
	for _, b := range s.Bindings {
		if b.Resource.Kind == provision.ResourceServiceAccount {
			bs = append(bs, b)
		}
	}
	s.Bindings = bs
	p, err := m.Plan(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="wif: creating pool"`, `msg="wif: creating provider"`, `msg="wif: added bindings"`, "added=3"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}
