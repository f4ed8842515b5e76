package main

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
)

const (
	e2eService = "projects/acme/locations/europe-west1/services/api"
	e2eStable  = "europe-west1-docker.pkg.dev/acme/apps/api@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	e2eCand    = "europe-west1-docker.pkg.dev/acme/apps/api@sha256:2222222222222222222222222222222222222222222222222222222222222222"
)

// e2eOutcome is what one rollout on the data plane did.
type e2eOutcome struct {
	err            error
	tookToRollback time.Duration // from the rollout's start to the rollback write; 0 if none
	tookTo100      time.Duration // from the start to 100%; 0 if never
	candRequests   int64         // requests the candidate answered
	candErrors     int64         // of which 500
	excess         float64       // candErrors beyond the stable's 0.1%
}

// rolloutOnDataPlane rolls a candidate whose code fails every failEvery-th
// request out of a stable one failing 0.1%, at 200 real requests per
// simulated second through the Cloud Run emulator's data plane, behind the
// default sequential gate reading Cloud Monitoring (3-minute delay), on
// stage/cloudrun and traffic.Rollout with the default plan and a 1 s gate
// interval, as examples/rolloutsim models "ours" (without its probe).
func rolloutOnDataPlane(t *testing.T, failEvery int64) e2eOutcome {
	t.Helper()
	ctx := t.Context()
	clk := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	mon, err := monitoringfake.NewServer(monitoringfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	stable, cand := &app{version: "stable", failEvery: 1000}, &app{version: "candidate", failEvery: failEvery}
	run, err := cloudrunfake.NewServer(cloudrunfake.WithClock(clk), cloudrunfake.WithMonitoring(mon),
		cloudrunfake.WithHandler(e2eStable, stable), cloudrunfake.WithHandler(e2eCand, cand))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	// The stable serves 100%; the candidate is deployed with no traffic.
	svc := &runpb.Service{Name: e2eService, Template: &runpb.RevisionTemplate{Revision: "api-stable", Containers: []*runpb.Container{{Image: e2eStable}}}}
	if err := run.SetService(svc); err != nil {
		t.Fatal(err)
	}
	svc, _ = run.Service(e2eService)
	svc.Template = &runpb.RevisionTemplate{Revision: "api-candidate", Containers: []*runpb.Container{{Image: e2eCand}}}
	svc.Traffic = []*runpb.TrafficTarget{
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "api-stable", Percent: 100},
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "api-candidate", Tag: "candidate"},
	}
	if err := run.SetService(svc); err != nil {
		t.Fatal(err)
	}
	router, err := cloudrun.New(ctx, e2eService, cloudrun.WithClientOptions(run.ClientOptions()...), cloudrun.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Close() })
	metrics, err := cloudmonitoring.New(ctx, "acme", "api", cloudmonitoring.WithClientOptions(mon.ClientOptions()...), cloudmonitoring.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { metrics.Close() })
	gate, err := analysis.NewSequential(metrics, analysis.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	var out e2eOutcome
	ro, err := traffic.NewRollout(router,
		traffic.WithPlan(traffic.DefaultPlan()), traffic.WithGates(gate), traffic.WithClock(clk), traffic.WithInterval(time.Second),
		traffic.WithObserver(func(e traffic.Event) {
			switch {
			case e.Kind == traffic.EventRollback:
				out.tookToRollback = e.Time.Sub(start)
			case e.Kind == traffic.EventStep && e.Percent == 100:
				out.tookTo100 = e.Time.Sub(start)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	svc, _ = run.Service(e2eService)
	load := newRequests(clk, run.InProcessClient(), svc.GetUri, 200)
	clk.OnSleep(load.advance)
	_, out.err = ro.Run(ctx, "api-candidate")
	out.candRequests, out.candErrors = cand.n.Load(), cand.n.Load()/failEvery
	out.excess = float64(out.candErrors) - 0.001*float64(out.candRequests)
	if a := load.answers(); a[0] > 0 || a[http.StatusOK]+a[http.StatusInternalServerError] != stable.n.Load()+cand.n.Load() {
		t.Errorf("answers %v: want every request answered by a revision (stable %d, candidate %d)", a, stable.n.Load(), cand.n.Load())
	}
	return out
}

// TestRolloutOnDataPlane is issue 17's end-to-end check: a candidate whose
// code fails 2% of its requests, at 200 requests/s, is rolled back by the
// default gate on real responses read from Cloud Monitoring; a healthy one
// (0.1%, like the stable) reaches 100%.
func TestRolloutOnDataPlane(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a rollout of a few hundred thousand requests")
	}
	bad := rolloutOnDataPlane(t, 50)
	if !errors.Is(bad.err, traffic.ErrRolledBack) || bad.tookToRollback == 0 {
		t.Errorf("2%% failing candidate: Run = %v, want rolled back", bad.err)
	}
	t.Logf("2%% failing candidate: rolled back after %v; the candidate answered %d requests, %d of them 500 (excess over 0.1%%: %.1f)",
		bad.tookToRollback, bad.candRequests, bad.candErrors, bad.excess)
	good := rolloutOnDataPlane(t, 1000)
	if good.err != nil || good.tookTo100 == 0 {
		t.Errorf("healthy candidate: Run = %v, want 100%%", good.err)
	}
	t.Logf("healthy candidate: 100%% after %v; the candidate answered %d requests", good.tookTo100, good.candRequests)
}
