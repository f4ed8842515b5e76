package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/time/rate"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/pipeline/fanout"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

var fanArtifact = registry.Artifact{
	Repository: "europe-west1-docker.pkg.dev/acme/apps/api",
	Digest:     "sha256:" + strings.Repeat("ab", 32),
}

func fanRelease() stage.Release {
	return stage.Release{Artifact: fanArtifact, Revision: "c9f0f89", Traffic: stage.RouteAll}
}

// fakeTargets returns n services in each region, as fakes on clk.
func fakeTargets(clk *fake.Clock, n int, regions ...string) ([]fanout.Destination, map[string]*fake.Service) {
	var ts []fanout.Destination
	svcs := map[string]*fake.Service{}
	for _, reg := range regions {
		for i := range n {
			name := fmt.Sprintf("svc%d-%s", i, reg)
			s := fake.NewService(fmt.Sprintf("svc%d", i), fake.WithClock(clk))
			svcs[name] = s
			ts = append(ts, fanout.Destination{Name: name, Region: reg, Stage: s})
		}
	}
	return ts, svcs
}

// TestFanOutDeploysEveryTarget checks that every target gets the release at
// 100%, results come back in the order given, progress reports each target
// once, and that the per-region limiter paces writes: with one deploy at a
// time, rate 1/s and burst 1, targets interleaved over two regions, the
// limiter sleeps 1s before every write but the first of each region.
func TestFanOutDeploysEveryTarget(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Time{})
	ts, svcs := fakeTargets(clk, 3, "europe-west1", "us-central1")
	var progress []string
	res, err := fanout.Deploy(t.Context(), ts, fanRelease(),
		fanout.WithConcurrency(1),
		fanout.WithWriteRate(1, 1),
		fanout.WithClock(clk),
		fanout.WithProgress(func(r fanout.Result) { progress = append(progress, r.Destination.Name) }),
	)
	if err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	var gotNames, wantNames []string
	for i, r := range res {
		wantNames = append(wantNames, ts[i].Name)
		gotNames = append(gotNames, r.Destination.Name)
		if r.Err != nil || r.Attempts != 1 || !r.Revision.Ready {
			t.Errorf("result %s: err %v, attempts %d, ready %v; want nil, 1, true", r.Destination.Name, r.Err, r.Attempts, r.Revision.Ready)
		}
		sp, err := svcs[r.Destination.Name].Split(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{r.Revision.Name: 100}, traffic.Shares(mustPin(t, sp))); diff != "" {
			t.Errorf("%s: traffic mismatch (-want +got):\n%s", r.Destination.Name, diff)
		}
	}
	if diff := cmp.Diff(wantNames, gotNames); diff != "" {
		t.Errorf("result order mismatch (-want +got):\n%s", diff)
	}
	wantProgress := []string{"svc0-europe-west1", "svc0-us-central1", "svc1-europe-west1", "svc1-us-central1", "svc2-europe-west1", "svc2-us-central1"}
	if diff := cmp.Diff(wantProgress, progress); diff != "" {
		t.Errorf("progress (interleaved by region) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, time.Second}, clk.Sleeps()); diff != "" {
		t.Errorf("limiter sleeps mismatch (-want +got):\n%s", diff)
	}
}

func mustPin(t *testing.T, sp traffic.Split) traffic.Split {
	t.Helper()
	p, err := traffic.Pin(sp, sp.LatestRevision)
	if err != nil {
		t.Fatalf("Pin(%s): %v", sp, err)
	}
	return p
}

// TestFanOutDefaultRate checks the default pace: 60 writes per minute per
// region with a burst of 1, i.e. one write per second after the first.
func TestFanOutDefaultRate(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Time{})
	ts, _ := fakeTargets(clk, 4, "europe-west1")
	if _, err := fanout.Deploy(t.Context(), ts, fanRelease(), fanout.WithConcurrency(1), fanout.WithClock(clk)); err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	if got, want := clk.Slept(), 3*time.Second; got != want {
		t.Errorf("4 writes in one region slept %v, want %v (60/min, burst 1)", got, want)
	}
}

// TestFanOutBacksOffOnQuota runs a fan-out against the Cloud Run emulator
// whose write quota (2 per minute, on the fake clock) is far below the
// limiter's rate: the writes beyond the quota fail with RESOURCE_EXHAUSTED,
// FanOut backs off on the clock until the window frees, every target ends
// up deployed once, and every extra attempt matches one refusal in the
// emulator's request log.
func TestFanOutBacksOffOnQuota(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Time{})
	srv, err := cloudrunfake.NewServer(cloudrunfake.WithClock(clk), cloudrunfake.WithWriteQuota(2, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var ts []fanout.Destination
	for i := range 4 {
		name := fmt.Sprintf("projects/p/locations/europe-west1/services/svc%d", i)
		svc, err := cloudrun.New(t.Context(), name,
			cloudrun.WithClientOptions(srv.ClientOptions()...),
			cloudrun.WithClock(clk),
			cloudrun.WithRetry(twostage.Retry{Attempts: 1}), // FanOut retries, not the stage
		)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		ts = append(ts, fanout.Destination{Name: name, Region: "europe-west1", Stage: svc})
	}
	res, err := fanout.Deploy(t.Context(), ts, fanRelease(),
		fanout.WithConcurrency(2),
		fanout.WithWriteRate(rate.Inf, 1),
		fanout.WithRetry(twostage.Retry{Attempts: 12, Initial: time.Second, Max: time.Minute}),
		fanout.WithClock(clk),
	)
	if err != nil {
		t.Fatalf("FanOut: %v", err)
	}
	extra := 0
	for _, r := range res {
		extra += r.Attempts - 1
		revs := srv.Revisions(r.Destination.Name)
		if len(revs) != 1 {
			t.Errorf("%s has %d revisions, want 1", r.Destination.Name, len(revs))
		}
	}
	refused := 0
	for _, rq := range srv.Requests() {
		if rq.Code.String() == "ResourceExhausted" {
			refused++
		}
	}
	if extra == 0 || extra != refused {
		t.Errorf("extra attempts %d, RESOURCE_EXHAUSTED answers %d: want equal and positive", extra, refused)
	}
	if clk.Slept() < time.Minute {
		t.Errorf("slept %v in all; the third write cannot pass a 2/min quota before a minute", clk.Slept())
	}
}

// countingStage counts deploys and runs fn on each.
type countingStage struct {
	mu sync.Mutex // guards n
	n  int
	fn func(ctx context.Context) error
}

func (s *countingStage) Deploy(ctx context.Context, r stage.Release) (stage.Revision, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	if s.fn != nil {
		if err := s.fn(ctx); err != nil {
			return stage.Revision{}, err
		}
	}
	return stage.Revision{Name: "x-" + r.Revision, Ready: true}, nil
}

func (s *countingStage) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// TestFanOutValidates checks that bad targets, releases and options are
// refused with ErrInvalid before any deploy.
func TestFanOutValidates(t *testing.T) {
	t.Parallel()
	st := &countingStage{}
	good := []fanout.Destination{{Name: "a", Region: "europe-west1", Stage: st}}
	bad := fanRelease()
	bad.Artifact.Digest = "sha256:short"
	tests := []struct {
		name    string
		targets []fanout.Destination
		rel     stage.Release
		opts    []fanout.Option
		want    string
	}{
		{"no targets", nil, fanRelease(), nil, "no targets"},
		{"no name", []fanout.Destination{{Region: "europe-west1", Stage: st}}, fanRelease(), nil, "has no name"},
		{"duplicate", append(good, good[0]), fanRelease(), nil, `"a" is used twice`},
		{"bad region", []fanout.Destination{{Name: "a", Region: "Europe West", Stage: st}}, fanRelease(), nil, `region "Europe West"`},
		{"env injection region", []fanout.Destination{{Name: "a", Region: "x;rm -rf", Stage: st}}, fanRelease(), nil, "is not a region"},
		{"nil stage", []fanout.Destination{{Name: "a", Region: "europe-west1"}}, fanRelease(), nil, "has no stage"},
		{"no traffic", good, stage.Release{Artifact: fanArtifact}, nil, "release traffic"},
		{"bad digest", good, bad, nil, "artifact"},
		{"concurrency", good, fanRelease(), []fanout.Option{fanout.WithConcurrency(0)}, "WithConcurrency(0)"},
		{"burst", good, fanRelease(), []fanout.Option{fanout.WithWriteRate(1, 0)}, "WithWriteRate"},
		{"rate", good, fanRelease(), []fanout.Option{fanout.WithWriteRate(0, 1)}, "WithWriteRate"},
		{"attempts", good, fanRelease(), []fanout.Option{fanout.WithRetry(twostage.Retry{Attempts: -1})}, "attempts"},
		{"clock", good, fanRelease(), []fanout.Option{fanout.WithClock(nil)}, "WithClock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := fanout.Deploy(t.Context(), tc.targets, tc.rel, tc.opts...)
			if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FanOut error = %v; want ErrInvalid mentioning %q", err, tc.want)
			}
			if res != nil {
				t.Errorf("FanOut results = %v, want nil", res)
			}
		})
	}
	if n := st.count(); n != 0 {
		t.Errorf("%d deploys despite invalid input, want 0", n)
	}
}

// TestFanOutCancel checks that a context ending part-way fails the targets
// not started with its error, and that every target still has a result.
func TestFanOutCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := &countingStage{fn: func(context.Context) error { cancel(); return nil }}
	var ts []fanout.Destination
	for i := range 5 {
		ts = append(ts, fanout.Destination{Name: fmt.Sprint("t", i), Region: "europe-west1", Stage: st})
	}
	clk := fake.NewClock(time.Time{})
	res, err := fanout.Deploy(ctx, ts, fanRelease(), fanout.WithConcurrency(1), fanout.WithWriteRate(rate.Inf, 1), fanout.WithClock(clk))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("FanOut error = %v, want context.Canceled", err)
	}
	if len(res) != len(ts) {
		t.Fatalf("%d results, want %d", len(res), len(ts))
	}
	if res[0].Err != nil || res[0].Attempts != 1 {
		t.Errorf("first target: err %v attempts %d; want deployed once", res[0].Err, res[0].Attempts)
	}
	for _, r := range res[1:] {
		if !errors.Is(r.Err, context.Canceled) || !strings.Contains(r.Err.Error(), r.Destination.Name) {
			t.Errorf("target %s: err %v, want context.Canceled naming the target", r.Destination.Name, r.Err)
		}
	}
	if n := st.count(); n > 2 {
		t.Errorf("%d deploys after the cancel, want at most 1 more (the one already handed over)", n-1)
	}
}

// TestFanOutPartialFailure checks that one target's permanent failure does
// not stop the others and is reported by name, without retries.
func TestFanOutPartialFailure(t *testing.T) {
	t.Parallel()
	boom := fmt.Errorf("deploying: %w", twostage.ErrNotReady)
	ok, failing := &countingStage{}, &countingStage{fn: func(context.Context) error { return boom }}
	ts := []fanout.Destination{
		{Name: "ok1", Region: "europe-west1", Stage: ok},
		{Name: "bad", Region: "us-central1", Stage: failing},
		{Name: "ok2", Region: "europe-west1", Stage: ok},
	}
	clk := fake.NewClock(time.Time{})
	res, err := fanout.Deploy(t.Context(), ts, fanRelease(), fanout.WithClock(clk))
	if !errors.Is(err, twostage.ErrNotReady) || !strings.Contains(err.Error(), `fan-out to bad (us-central1)`) {
		t.Fatalf("FanOut error = %v; want ErrNotReady naming target bad", err)
	}
	if res[0].Err != nil || res[2].Err != nil || res[1].Attempts != 1 {
		t.Errorf("results %+v: want ok1 and ok2 deployed, bad tried once", res)
	}
	if ok.count() != 2 || failing.count() != 1 {
		t.Errorf("deploys: ok %d, failing %d; want 2, 1", ok.count(), failing.count())
	}
}

// FanOut deploys one release to a service in each of three regions, at
// most two at a time, each region's writes paced by its own limiter.
func ExampleDeploy() {
	ctx := context.Background()
	clk := fake.NewClock(time.Time{})
	var targets []fanout.Destination
	for _, region := range []string{"europe-west1", "us-central1", "asia-east1"} {
		targets = append(targets, fanout.Destination{Name: "api/" + region, Region: region, Stage: fake.NewService("api", fake.WithClock(clk))})
	}
	rel := stage.Release{
		Artifact: registry.Artifact{Repository: "europe-west1-docker.pkg.dev/acme/apps/api", Digest: "sha256:" + strings.Repeat("ab", 32)},
		Revision: "v1-4-2-c9f0f89",
		Traffic:  stage.RouteAll,
	}
	res, err := fanout.Deploy(ctx, targets, rel, fanout.WithConcurrency(2), fanout.WithClock(clk))
	if err != nil {
		fmt.Println(err)
	}
	for _, r := range res {
		fmt.Println(r.Destination.Name, r.Revision.Name, r.Attempts)
	}
	// Output:
	// api/europe-west1 api-v1-4-2-c9f0f89 1
	// api/us-central1 api-v1-4-2-c9f0f89 1
	// api/asia-east1 api-v1-4-2-c9f0f89 1
}
