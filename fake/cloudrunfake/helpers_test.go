package cloudrunfake_test

import (
	"context"
	"sync"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

const (
	parent  = "projects/p/locations/us-central1"
	svcName = parent + "/services/web"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep advances the clock by d at once.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(max(d, 0))
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv  *cloudrunfake.Server
	svcs *run.ServicesClient
	revs *run.RevisionsClient
	clk  *fakeClock
}

// newEnv starts an emulator with a fake clock and connects the official
// clients to it.
func newEnv(t testing.TB, opts ...cloudrunfake.Option) *env {
	t.Helper()
	clk := newFakeClock()
	srv, err := cloudrunfake.NewServer(append([]cloudrunfake.Option{cloudrunfake.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx := context.Background()
	svcs, err := run.NewServicesClient(ctx, srv.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewServicesClient: %v", err)
	}
	t.Cleanup(func() { svcs.Close() })
	revs, err := run.NewRevisionsClient(ctx, srv.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewRevisionsClient: %v", err)
	}
	t.Cleanup(func() { revs.Close() })
	return &env{srv: srv, svcs: svcs, revs: revs, clk: clk}
}

func service(image string) *runpb.Service {
	return &runpb.Service{Template: &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: image}}}}
}

// create creates service id from svc and waits for it.
func (e *env) create(t testing.TB, id string, svc *runpb.Service) *runpb.Service {
	t.Helper()
	ctx := context.Background()
	op, err := e.svcs.CreateService(ctx, &runpb.CreateServiceRequest{Parent: parent, ServiceId: id, Service: svc})
	if err != nil {
		t.Fatalf("CreateService(%q): %v", id, err)
	}
	got, err := op.Wait(ctx)
	if err != nil {
		t.Fatalf("CreateService(%q).Wait: %v", id, err)
	}
	return got
}

// update sends svc and waits; it returns the service and Wait's error.
func (e *env) update(t testing.TB, req *runpb.UpdateServiceRequest) (*runpb.Service, error) {
	t.Helper()
	ctx := context.Background()
	op, err := e.svcs.UpdateService(ctx, req)
	if err != nil {
		return nil, err
	}
	return op.Wait(ctx)
}

func (e *env) get(t testing.TB, name string) *runpb.Service {
	t.Helper()
	got, err := e.svcs.GetService(context.Background(), &runpb.GetServiceRequest{Name: name})
	if err != nil {
		t.Fatalf("GetService(%q): %v", name, err)
	}
	return got
}
