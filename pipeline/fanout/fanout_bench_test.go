package fanout_test

import (
	"fmt"
	"testing"
	"time"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"golang.org/x/time/rate"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/pipeline/fanout"
	"github.com/twostage/twostage/stage/cloudrun"
)

// BenchmarkFanOut100 deploys one release to 100 Cloud Run services (50 in
// each of 2 regions) on the emulator, with L = 50ms of injected latency on
// every call and the write quota enforced by the emulator, and reports the
// wall time of each FanOut against the lower bound the quota and the
// latency set (metrics wall-ms/op, bound-ms/op, x-bound; refused/op counts
// the writes the emulator refused with RESOURCE_EXHAUSTED).
//
// The bound. A region whose quota admits at most Q writes in any window W
// (the emulator's sliding window) takes at least floor((n-1)/Q)·W between
// its first and its n-th write. A deploy makes k sequential calls, each
// taking at least L, and the quota is checked after the write's latency;
// k is read from the emulator's request log (it is 1 here: each stage
// starts from the service it cached when it created it, so a deploy is one
// UpdateService whose operation returns the new revision). The first write
// of a region is admitted no earlier than a·L (a = the calls up to and
// including the write), the n-th no earlier than a·L + floor((n-1)/Q)·W,
// and its deploy ends no earlier than floor((n-1)/Q)·W + k·L. With
// unbounded concurrency that is the bound; WithConcurrency(100) makes the
// concurrency bound ceil(100/C)·k·L = k·L no larger. For n = 50, Q = 7,
// W = 140ms, L = 50ms and k = 1 the bound is 7·140ms + 50ms = 1.03s.
//
// The scale. The real quota, 60 writes per 60s per region, would make the
// run last close to a minute; the benchmark keeps its shape (a sliding
// window, paced by a token bucket with a burst of 1) and scales time by
// 1/50: Q = 7 per W = 140ms is 50 writes/s instead of 1/s. The limiter
// runs at that rate less a 5% margin (47.5/s) for the jitter between a
// token and its write's arrival after the latency. A burst-1 bucket spaces
// writes evenly, so the writes take (n-1)·W/(0.95·Q) = 1.03s instead of
// floor((n-1)/Q)·W = 0.98s: about 1.05× is the pacing's own cost; the rest
// is overhead and the odd refused write that backs off.
//
// Run it with:
//
//	go test -run '^$' -bench BenchmarkFanOut100 -benchtime 3x ./pipeline
func BenchmarkFanOut100(b *testing.B) {
	const (
		perRegion = 50
		q         = 7
		w         = 140 * time.Millisecond
		lat       = 50 * time.Millisecond
	)
	regions := []string{"europe-west1", "us-central1"}
	opts := []cloudrunfake.Option{cloudrunfake.WithWriteQuota(q, w)}
	for _, m := range []string{
		runpb.Services_GetService_FullMethodName, runpb.Services_UpdateService_FullMethodName,
		runpb.Services_CreateService_FullMethodName, runpb.Revisions_GetRevision_FullMethodName,
		"/google.longrunning.Operations/GetOperation",
	} {
		opts = append(opts, cloudrunfake.WithLatency(m, lat))
	}
	srv, err := cloudrunfake.NewServer(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ctx := b.Context()
	sc, err := run.NewServicesClient(ctx, srv.ClientOptions()...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sc.Close() })
	rc, err := run.NewRevisionsClient(ctx, srv.ClientOptions()...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rc.Close() })
	var ts []fanout.Destination
	for _, reg := range regions {
		for i := range perRegion {
			name := fmt.Sprintf("projects/p/locations/%s/services/svc%02d", reg, i)
			svc, err := cloudrun.New(ctx, name, cloudrun.WithServicesClient(sc), cloudrun.WithRevisionsClient(rc),
				cloudrun.WithRetry(twostage.Retry{Attempts: 1})) // FanOut backs off, not the stage
			if err != nil {
				b.Fatal(err)
			}
			ts = append(ts, fanout.Destination{Name: name, Region: reg, Stage: svc})
		}
	}
	fan := []fanout.Option{
		fanout.WithConcurrency(100),
		fanout.WithWriteRate(rate.Limit(float64(q)/w.Seconds()*0.95), 1),
		fanout.WithRetry(twostage.Retry{Attempts: 5, Initial: w / q, Max: w}),
	}
	rel := fanRelease()
	rel.Revision = "r0"
	// The services exist before the measured runs, as in production.
	if _, err := fanout.Deploy(ctx, ts, rel, fan...); err != nil {
		b.Fatalf("creating the services: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var total, bound time.Duration
	refused := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(w) // a fresh quota window, as the bound assumes
		srv.ResetRequests()
		rel.Revision = fmt.Sprintf("r%d", i+1)
		b.StartTimer()
		start := time.Now()
		if _, err := fanout.Deploy(ctx, ts, rel, fan...); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		reqs := srv.Requests()
		calls := 0
		for _, r := range reqs {
			if r.Code.String() == "ResourceExhausted" {
				refused++
			} else {
				calls++
			}
		}
		k := calls / len(ts)
		if i == 0 {
			b.Logf("k = %d calls per deploy (%d calls for %d targets)", k, calls, len(ts))
		}
		bound += time.Duration((perRegion-1)/q)*w + time.Duration(k)*lat
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "wall-ms/op")
	b.ReportMetric(float64(bound.Milliseconds())/float64(b.N), "bound-ms/op")
	b.ReportMetric(float64(total)/float64(bound), "x-bound")
	b.ReportMetric(float64(refused)/float64(b.N), "refused/op")
}
