package cloudrunfake_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestListServicesPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent}).Next(); err != iterator.Done {
		t.Errorf("ListServices of an empty region = %v, want an empty list (iterator.Done)", err)
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		e.create(t, id, service("img:1"))
	}
	e.srv.ResetRequests()
	it := e.svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent, PageSize: 2})
	var got []string
	for s, err := it.Next(); err != iterator.Done; s, err = it.Next() {
		if err != nil {
			t.Fatalf("ListServices: %v", err)
		}
		got = append(got, short(s.GetName()))
	}
	// "Results are sorted by creation time, descending."
	if diff := cmp.Diff([]string{"f", "e", "d", "c", "b", "a"}, got); diff != "" {
		t.Errorf("ListServices mismatch (-want +got):\n%s", diff)
	}
	if n := e.srv.Count(runpb.Services_ListServices_FullMethodName); n != 3 {
		t.Errorf("ListServices calls = %d, want 3", n)
	}
	for _, bad := range []*runpb.ListServicesRequest{
		{Parent: "projects/p/locations/-"},
		{Parent: parent, PageToken: "x"},
	} {
		if _, err := e.svcs.ListServices(ctx, bad).Next(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("ListServices(%v) = %v, want InvalidArgument", bad, err)
		}
	}
	if _, err := e.svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: "projects/p/locations/europe-west1"}).Next(); err != iterator.Done {
		t.Errorf("ListServices of another region = %v, want empty", err)
	}
}

func TestIAMPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "web", service("img:1"))
	ctx := context.Background()
	p0, err := e.svcs.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: svcName})
	if err != nil {
		t.Fatalf("GetIamPolicy: %v", err)
	}
	if len(p0.GetBindings()) != 0 || len(p0.GetEtag()) == 0 {
		t.Errorf("initial policy = %v, want no bindings and an etag", p0)
	}
	want := &iampb.Policy{Bindings: []*iampb.Binding{{Role: "roles/run.invoker", Members: []string{"allUsers"}}}, Etag: p0.GetEtag()}
	p1, err := e.svcs.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: svcName, Policy: want})
	if err != nil {
		t.Fatalf("SetIamPolicy: %v", err)
	}
	if string(p1.GetEtag()) == string(p0.GetEtag()) {
		t.Errorf("policy etag unchanged by SetIamPolicy")
	}
	got, err := e.svcs.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: svcName})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.GetBindings(), got.GetBindings(), protocmp.Transform()); diff != "" {
		t.Errorf("GetIamPolicy bindings mismatch (-want +got):\n%s", diff)
	}
	if _, err := e.svcs.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: svcName, Policy: want}); status.Code(err) != codes.Aborted {
		t.Errorf("SetIamPolicy with a stale etag = %v, want Aborted", err)
	}
	if _, err := e.svcs.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{Resource: parent + "/services/nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetIamPolicy(missing) = %v, want NotFound", err)
	}
	perms, err := e.svcs.TestIamPermissions(ctx, &iampb.TestIamPermissionsRequest{Resource: svcName, Permissions: []string{"run.services.get"}})
	if err != nil || !cmp.Equal(perms.GetPermissions(), []string{"run.services.get"}) {
		t.Errorf("TestIamPermissions = %v, %v", perms, err)
	}
}

func TestWriteQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithWriteQuota(2, time.Minute))
	ctx := context.Background()
	e.create(t, "a", service("img:1"))
	e.create(t, "b", service("img:1"))
	_, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "c", Service: service("img:1")})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third write in a minute = %v, want ResourceExhausted", err)
	}
	// Another region has its own quota.
	if _, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: "projects/p/locations/europe-west1", ServiceId: "c", Service: service("img:1")}); err != nil {
		t.Errorf("write in another region: %v", err)
	}
	// Reads are free.
	e.get(t, parent+"/services/a")
	e.clk.Advance(time.Minute)
	e.create(t, "c", service("img:1"))
}

func TestErrorInjection(t *testing.T) {
	t.Parallel()
	calls := 0
	var mu sync.Mutex
	e := newEnv(t, cloudrunfake.WithErrorInjection(func(method string, req any) error {
		mu.Lock()
		defer mu.Unlock()
		if method == runpb.Services_CreateService_FullMethodName && req.(*runpb.CreateServiceRequest).GetServiceId() == "doomed" {
			calls++
			return status.Error(codes.PermissionDenied, "injected")
		}
		return nil
	}))
	ctx := context.Background()
	if _, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: "doomed", Service: service("i")}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateService(doomed) = %v, want the injected PermissionDenied", err)
	}
	cur := e.create(t, "web", service("img:1"))

	e.srv.InjectError(runpb.Services_UpdateService_FullMethodName, status.Error(codes.Internal, "boom"), 2)
	for i := range 2 {
		if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: cur}); status.Code(err) != codes.Internal {
			t.Errorf("update %d = %v, want injected Internal", i, err)
		}
	}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: cur}); err != nil {
		t.Errorf("update after the injections ran out: %v", err)
	}
	e.srv.InjectError(runpb.Services_GetService_FullMethodName, status.Error(codes.NotFound, "gone"), -1)
	for range 3 {
		if _, err := e.svcs.GetService(ctx, &runpb.GetServiceRequest{Name: svcName}); status.Code(err) != codes.NotFound {
			t.Errorf("GetService with a permanent injection = %v, want NotFound", err)
		}
	}
	e.srv.InjectError(runpb.Services_GetService_FullMethodName, nil, 0)
	e.get(t, svcName)

	var codesSeen []codes.Code
	for _, r := range e.srv.Requests() {
		if r.Method == runpb.Services_UpdateService_FullMethodName {
			codesSeen = append(codesSeen, r.Code)
			if r.Request.(*runpb.UpdateServiceRequest).GetService().GetName() != svcName {
				t.Errorf("logged request = %v, want a copy of the UpdateServiceRequest", r.Request)
			}
		}
	}
	if diff := cmp.Diff([]codes.Code{codes.Internal, codes.Internal, codes.OK}, codesSeen); diff != "" {
		t.Errorf("logged UpdateService codes mismatch (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("injection function matched %d calls, want 1", calls)
	}
}

func TestLatencyUsesInjectedSleep(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var slept []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		if d > time.Hour {
			return context.DeadlineExceeded
		}
		return nil
	}
	e := newEnv(t,
		cloudrunfake.WithClock(sleepClock{newFakeClock(), sleep}),
		cloudrunfake.WithLatency(runpb.Services_GetService_FullMethodName, 3*time.Second),
		cloudrunfake.WithLatency(runpb.Revisions_GetRevision_FullMethodName, 2*time.Hour),
	)
	e.create(t, "web", service("img:1"))
	e.get(t, svcName)
	_, err := e.revs.GetRevision(context.Background(), &runpb.GetRevisionRequest{Name: svcName + "/revisions/web-x"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("GetRevision whose latency outlives the context = %v, want DeadlineExceeded", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]time.Duration{3 * time.Second, 2 * time.Hour}, slept); diff != "" {
		t.Errorf("sleeps mismatch (-want +got):\n%s", diff)
	}
}

// sleepClock is a clock whose Sleep is sleep.
type sleepClock struct {
	*fakeClock
	sleep func(ctx context.Context, d time.Duration) error
}

func (c sleepClock) Sleep(ctx context.Context, d time.Duration) error { return c.sleep(ctx, d) }

func TestUnimplemented(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	jobs, err := run.NewJobsClient(ctx, e.srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jobs.Close() })
	if _, err := jobs.ListJobs(ctx, &runpb.ListJobsRequest{Parent: parent}).Next(); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListJobs = %v, want Unimplemented", err)
	}
	if n := e.srv.Count("/google.cloud.run.v2.Jobs/ListJobs"); n != 1 {
		t.Errorf("unregistered method logged %d times, want 1", n)
	}
	// (update_mask is emulated now: TestUpdateMask.)
	if _, err := e.svcs.ListServices(ctx, &runpb.ListServicesRequest{Parent: parent, ShowDeleted: true}).Next(); status.Code(err) != codes.Unimplemented {
		t.Errorf("ListServices(show_deleted) = %v, want Unimplemented", err)
	}
}

func TestSeedAndInspect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	seed := service("img:seed")
	seed.Name = svcName
	seed.Template.Revision = "web-seed"
	if err := e.srv.SetService(seed); err != nil {
		t.Fatalf("SetService: %v", err)
	}
	got := e.get(t, svcName)
	if got.GetLatestReadyRevision() != svcName+"/revisions/web-seed" || got.GetEtag() == "" || got.GetGeneration() != 1 {
		t.Errorf("seeded service = %v, want derived fields computed", got)
	}
	c, ok := e.srv.Service(svcName)
	if !ok {
		t.Fatal("Service: not found")
	}
	c.Template.Containers[0].Image = "mutated"
	if again, _ := e.srv.Service(svcName); again.GetTemplate().GetContainers()[0].GetImage() != "img:seed" {
		t.Errorf("Service() returned shared state: a change to the copy leaked")
	}
	if revs := e.srv.Revisions(svcName); len(revs) != 1 || revs[0].GetContainers()[0].GetImage() != "img:seed" {
		t.Errorf("Revisions = %v, want the seeded revision", revs)
	}
	if err := e.srv.SetService(&runpb.Service{Name: "bad"}); err == nil {
		t.Errorf("SetService with a bad name succeeded")
	}
	if _, ok := e.srv.Service(parent + "/services/nope"); ok {
		t.Errorf("Service(missing) reported found")
	}
}

// TestConcurrentWriters races writers on one service: with etags exactly
// one of each round's writers wins, and the race detector watches the state.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	base := e.create(t, "web", service("img:0"))
	const writers = 4
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.update(t, &runpb.UpdateServiceRequest{Service: withImage(base, fmt.Sprintf("img:%d", i+1))})
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case status.Code(err) != codes.Aborted:
			t.Errorf("losing writer got %v, want Aborted (AIP-154)", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers won with the same etag, want 1", won)
	}
}

func TestRetentionLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, cloudrunfake.WithMaxRequests(3), cloudrunfake.WithMaxOperations(2))
	ctx := context.Background()
	var names []string
	for _, id := range []string{"a", "b", "c"} {
		op, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: id, Service: service("img:1")})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, op.Name())
	}
	if _, err := e.svcs.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: names[0]}); status.Code(err) != codes.NotFound {
		t.Errorf("GetOperation of the oldest of 3 with a limit of 2 = %v, want NotFound", err)
	}
	for _, n := range names[1:] {
		if _, err := e.svcs.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: n}); err != nil {
			t.Errorf("GetOperation(%s): %v", n, err)
		}
	}
	var got []string
	for _, r := range e.srv.Requests() {
		got = append(got, r.Method)
	}
	want := []string{getOperation, getOperation, getOperation} // the newest 3: the three GetOperation calls
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request log with a limit of 3 mismatch (-want +got):\n%s", diff)
	}
	if _, err := cloudrunfake.NewServer(cloudrunfake.WithMaxOperations(0)); err == nil {
		t.Errorf("NewServer(WithMaxOperations(0)) succeeded")
	}
	if _, err := cloudrunfake.NewServer(cloudrunfake.WithConflictCode(codes.OK)); err == nil {
		t.Errorf("NewServer(WithConflictCode(OK)) succeeded")
	}
}
