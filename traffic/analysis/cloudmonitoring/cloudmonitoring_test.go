package cloudmonitoring_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
	"google.golang.org/genproto/googleapis/api/distribution"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func setup(t *testing.T, clk *fake.Clock, ingest time.Duration, opts ...cloudmonitoring.Option) (*monitoringfake.Server, *cloudmonitoring.Metrics) {
	t.Helper()
	srv, err := monitoringfake.NewServer(monitoringfake.WithClock(clk), monitoringfake.WithIngestionDelay(ingest))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	m, err := cloudmonitoring.New(context.Background(), "proj", "svc",
		append([]cloudmonitoring.Option{cloudmonitoring.WithClientOptions(srv.ClientOptions()...), cloudmonitoring.WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return srv, m
}

func add(srv *monitoringfake.Server, rev string, minute, code int, n int64) {
	srv.Add(monitoringfake.Sample{Project: "proj", Location: "europe-west1", Service: "svc", Revision: rev, Code: code, End: t0.Add(time.Duration(minute) * time.Minute), Count: n})
}

func TestCounts(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(10*time.Minute + 30*time.Second))
	srv, m := setup(t, clk, 3*time.Minute)
	for minute := 1; minute <= 10; minute++ {
		add(srv, "svc-v2", minute, 200, 95)
		add(srv, "svc-v2", minute, 503, 5)
		add(srv, "svc-v2", minute, 404, 1) // 4xx is not an error
		add(srv, "svc-v1", minute, 200, 1000)
		add(srv, "other", minute, 500, 1000)
	}
	add(srv, "svc-v1", 2, 500, 2)
	srv.Add(monitoringfake.Sample{Project: "proj", Service: "another-svc", Revision: "svc-v1", Code: 500, End: t0.Add(time.Minute), Count: 99})

	got, err := m.Counts(context.Background(), analysis.Query{Revisions: []string{"svc-v2", "svc-v1"}, Start: t0, End: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// Complete through now-3m = 7m30s, rounded down to whole minutes: 7m.
	want := analysis.Counts{
		Revisions: map[string]analysis.Count{"svc-v2": {Requests: 7 * 101, Errors: 7 * 5}, "svc-v1": {Requests: 7*1000 + 2, Errors: 2}},
		Through:   t0.Add(7 * time.Minute),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Counts mismatch (-want +got):\n%s", diff)
	}
	// Nothing complete yet: no call.
	calls := srv.Count("ListTimeSeries")
	got, err = m.Counts(context.Background(), analysis.Query{Revisions: []string{"svc-v2"}, Start: t0.Add(9 * time.Minute), End: clk.Now()})
	if err != nil || got.Revisions["svc-v2"] != (analysis.Count{}) || !got.Through.Equal(t0.Add(9*time.Minute)) || srv.Count("ListTimeSeries") != calls {
		t.Errorf("Counts before data = %+v, %v (calls %d→%d); want zero through the start without a call", got, err, calls, srv.Count("ListTimeSeries"))
	}
}

// TestSequentialOverCloudMonitoring runs the Sequential gate over the
// emulator: a 20× regression at 5% fails once the delayed data shows it.
func TestSequentialOverCloudMonitoring(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	srv, m := setup(t, clk, 3*time.Minute)
	g, err := analysis.NewSequential(m)
	if err != nil {
		t.Fatal(err)
	}
	for minute := 1; minute <= 10; minute++ {
		add(srv, "svc-v2", minute, 200, 588)
		add(srv, "svc-v2", minute, 500, 12) // 2%
		add(srv, "svc-v1", minute, 200, 11389)
		add(srv, "svc-v1", minute, 500, 11) // 0.1%
		clk.Advance(time.Minute)
		verdict, err := g.Check(context.Background(), checkAt(clk.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if minute < 4 && verdict.Outcome != "inconclusive" {
			t.Fatalf("minute %d: %s %s, want inconclusive: no complete data yet", minute, verdict.Outcome, verdict.Reason)
		}
		if minute >= 4 {
			if verdict.Outcome != "fail" {
				t.Fatalf("minute %d: %s %s, want fail", minute, verdict.Outcome, verdict.Reason)
			}
			return
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(time.Hour))
	srv, m := setup(t, clk, 0, cloudmonitoring.WithLocation("europe-west1"))
	if _, err := m.Counts(context.Background(), analysis.Query{Start: t0, End: clk.Now()}); !errors.Is(err, analysis.ErrNoRevisions) {
		t.Errorf("no revisions: %v", err)
	}
	if _, err := m.Counts(context.Background(), analysis.Query{Revisions: []string{`a" OR x="`}, Start: t0, End: clk.Now()}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("quote in revision: %v, want ErrInvalid", err)
	}
	_ = srv
	for _, tc := range []struct {
		code codes.Code
		want error
	}{{codes.NotFound, twostage.ErrNotFound}, {codes.InvalidArgument, twostage.ErrInvalid}} {
		bad, err := monitoringfake.NewServer(monitoringfake.WithErrorInjection(func(method string, _ any) error {
			return status.Error(tc.code, "injected")
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bad.Close() })
		bm, err := cloudmonitoring.New(context.Background(), "proj", "svc", cloudmonitoring.WithClientOptions(bad.ClientOptions()...), cloudmonitoring.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = bm.Close() })
		_, err = bm.Counts(context.Background(), analysis.Query{Revisions: []string{"a"}, Start: t0, End: clk.Now()})
		if !errors.Is(err, tc.want) || status.Code(err) != tc.code {
			t.Errorf("injected %v: %v (code %v), want %v keeping the code", tc.code, err, status.Code(err), tc.want)
		}
	}
	for _, tc := range []struct {
		project, service string
		opts             []cloudmonitoring.Option
	}{
		{"", "svc", nil}, {"p/q", "svc", nil}, {"p", "", nil}, {"p", `s"`, nil},
		{"p", "svc", []cloudmonitoring.Option{cloudmonitoring.WithAlignment(time.Second)}},
		{"p", "svc", []cloudmonitoring.Option{cloudmonitoring.WithDelay(-1)}},
		{"p", "svc", []cloudmonitoring.Option{cloudmonitoring.WithLocation("eu west")}},
	} {
		if _, err := cloudmonitoring.New(context.Background(), tc.project, tc.service, tc.opts...); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("New(%q, %q): %v, want ErrInvalid", tc.project, tc.service, err)
		}
	}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0)
	_, m := setup(t, clk, 0, cloudmonitoring.WithLocation("europe-west1"))
	want := `metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "svc" AND resource.labels.location = "europe-west1" AND resource.labels.revision_name = one_of("a", "b")`
	if got := m.Filter([]string{"a", "b"}); got != want {
		t.Errorf("Filter = %s\nwant     %s", got, want)
	}
}

// TestLatencies reads request_latencies from the emulator, which records
// each response's latency in its distribution (exponential buckets, 1.4,
// scale 1 ms): per revision, over the complete window, on the bucket
// options the API returns.
func TestLatencies(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(10*time.Minute + 30*time.Second))
	srv, m := setup(t, clk, 3*time.Minute)
	resp := func(rev string, minute int, d time.Duration) monitoringfake.Response {
		return monitoringfake.Response{Project: "proj", Location: "europe-west1", Service: "svc", Revision: rev, Code: 200, Latency: d, End: t0.Add(time.Duration(minute)*time.Minute - time.Second)}
	}
	for minute := 1; minute <= 10; minute++ {
		srv.Record(resp("svc-v2", minute, 150*time.Millisecond), resp("svc-v2", minute, 900*time.Millisecond))
		srv.Record(resp("svc-v1", minute, 150*time.Millisecond))
		srv.Record(resp("other", minute, 5*time.Second))
	}
	got, err := m.Latencies(context.Background(), analysis.Query{Revisions: []string{"svc-v2", "svc-v1", "svc-v3"}, Start: t0, End: clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Through.Equal(t0.Add(7 * time.Minute)) {
		t.Errorf("Through = %v, want 7m after the start", got.Through.Sub(t0))
	}
	v2, v1 := got.Revisions["svc-v2"], got.Revisions["svc-v1"]
	if diff := cmp.Diff(analysis.DefaultLatencyBounds(), v2.Bounds); diff != "" {
		t.Errorf("bounds mismatch (-want +got):\n%s", diff)
	}
	// 150 ms lies in [1.4^14, 1.4^15) ms = bucket 15; 900 ms in bucket 21.
	if v2.Total() != 14 || v2.Count(15) != 7 || v2.Count(21) != 7 || v1.Total() != 7 || v1.Count(15) != 7 {
		t.Errorf("histograms %v / %v, want 7 requests in bucket 15 each and 7 in bucket 21 for svc-v2", v2.Counts, v1.Counts)
	}
	if q := v2.Quantile(0.75); q < 600*time.Millisecond || q > 1200*time.Millisecond {
		t.Errorf("svc-v2 p75 = %v, want in the 900 ms bucket", q)
	}
	if h := got.Revisions["svc-v3"]; h.Total() != 0 {
		t.Errorf("svc-v3 (no data) = %v, want empty", h)
	}
	// A gate over the emulator runs its latency test.
	g, err := analysis.NewSequential(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.Check(context.Background(), checkAt(clk.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if v.Numbers["candidate_p99_ms"] < 600 || v.Numbers["stable_p50_ms"] > 200 {
		t.Errorf("verdict numbers %v, want the candidate's p99 in the 900 ms bucket and the stable's p50 near 150 ms", v.Numbers)
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		o    *distribution.Distribution_BucketOptions
		want []time.Duration
	}{
		{&distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_LinearBuckets{LinearBuckets: &distribution.Distribution_BucketOptions_Linear{NumFiniteBuckets: 2, Width: 10, Offset: 5}}}, []time.Duration{5 * ms, 15 * ms, 25 * ms}},
		{&distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExponentialBuckets{ExponentialBuckets: &distribution.Distribution_BucketOptions_Exponential{NumFiniteBuckets: 2, GrowthFactor: 2, Scale: 1}}}, []time.Duration{ms, 2 * ms, 4 * ms}},
		{&distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExplicitBuckets{ExplicitBuckets: &distribution.Distribution_BucketOptions_Explicit{Bounds: []float64{1, 2.5}}}}, []time.Duration{ms, 2500 * time.Microsecond}},
		{nil, nil},
		{&distribution.Distribution_BucketOptions{Options: &distribution.Distribution_BucketOptions_ExplicitBuckets{ExplicitBuckets: &distribution.Distribution_BucketOptions_Explicit{Bounds: []float64{2, 1}}}}, nil},
	} {
		got, err := cloudmonitoring.Bounds(tc.o)
		if (err != nil) != (tc.want == nil) {
			t.Errorf("Bounds(%v) error %v", tc.o, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Bounds(%v) mismatch (-want +got):\n%s", tc.o, diff)
		}
	}
}

// TestNoClientRetries: an UNAVAILABLE read fails the look at once, marked
// temporary, rather than being retried by the gapic client for up to 90 s
// on the wall clock; the gate's next look is the retry.
func TestNoClientRetries(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(t0.Add(time.Hour))
	srv, m := setup(t, clk, 0)
	srv.InjectError("/google.monitoring.v3.MetricService/ListTimeSeries", status.Error(codes.Unavailable, "injected"), 1)
	q := analysis.Query{Revisions: []string{"a"}, Start: t0, End: clk.Now()}
	_, err := m.Counts(context.Background(), q)
	if status.Code(err) != codes.Unavailable || !twostage.IsTemporary(err) {
		t.Errorf("Counts with one UNAVAILABLE = %v, want it at once, marked temporary", err)
	}
	if n := srv.Count("ListTimeSeries"); n != 1 {
		t.Errorf("the emulator saw %d reads, want 1 (no client retry)", n)
	}
	if _, err := m.Counts(context.Background(), q); err != nil {
		t.Errorf("the next look: %v, want it to read", err)
	}
}
