package cloudrunfake_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/monitoringfake"
)

const (
	stableImage    = "us-central1-docker.pkg.dev/p/apps/web@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	candidateImage = "us-central1-docker.pkg.dev/p/apps/web@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// counting is a handler that names its revision in the body, counts its
// requests and fails every failEvery-th with 500 (never when 0).
type counting struct {
	name      string
	failEvery int64
	n, failed atomic.Int64
}

func (h *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.n.Add(1)
	if h.failEvery > 0 && n%h.failEvery == 0 {
		h.failed.Add(1)
		http.Error(w, h.name+" failed", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s K_REVISION=%s", h.name, r.Host)
}

// twoRevisions deploys web-stable and then web-candidate at split
// stable/candidate, the candidate tagged "candidate", through the official
// client, and returns the service.
func twoRevisions(t *testing.T, e *env, stable, candidate int32) *runpb.Service {
	t.Helper()
	svc := service(stableImage)
	svc.Template.Revision = "web-stable"
	e.create(t, "web", svc)
	svc = e.get(t, svcName)
	svc.Template = &runpb.RevisionTemplate{Revision: "web-candidate", Containers: []*runpb.Container{{Image: candidateImage}}}
	svc.Traffic = []*runpb.TrafficTarget{
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "web-stable", Percent: stable},
		{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "web-candidate", Percent: candidate, Tag: "candidate"},
	}
	got, err := e.update(t, &runpb.UpdateServiceRequest{Service: svc})
	if err != nil {
		t.Fatalf("UpdateService: %v", err)
	}
	return got
}

func tagURI(t *testing.T, svc *runpb.Service, tag string) string {
	t.Helper()
	for _, ts := range svc.GetTrafficStatuses() {
		if ts.GetTag() == tag {
			return ts.GetUri()
		}
	}
	t.Fatalf("service has no tag %q: %v", tag, svc.GetTrafficStatuses())
	return ""
}

// send makes n GET requests to url from 8 goroutines and returns the
// number of answers by status code.
func send(t *testing.T, c *http.Client, url string, n int) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	var errs atomic.Int64
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := c.Get(url)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d of %d requests failed to complete", errs.Load(), n)
	}
	return codes
}

func newMonitoring(t *testing.T, clk twostage.Clock) (*monitoringfake.Server, *monitoring.MetricClient) {
	t.Helper()
	mon, err := monitoringfake.NewServer(monitoringfake.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mon.Close() })
	mc, err := monitoring.NewMetricClient(context.Background(), mon.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Close() })
	return mon, mc
}

// requestCounts reads request_count per revision and response class over
// [start, end) through the official client.
func requestCounts(t *testing.T, mc *monitoring.MetricClient, start, end time.Time) map[string]int64 {
	t.Helper()
	it := mc.ListTimeSeries(context.Background(), &monitoringpb.ListTimeSeriesRequest{
		Name:     "projects/p",
		Filter:   `metric.type = "run.googleapis.com/request_count" AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "web"`,
		Interval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(start), EndTime: timestamppb.New(end)},
		Aggregation: &monitoringpb.Aggregation{
			AlignmentPeriod: durationpb.New(time.Minute), PerSeriesAligner: monitoringpb.Aggregation_ALIGN_DELTA,
			CrossSeriesReducer: monitoringpb.Aggregation_REDUCE_SUM,
			GroupByFields:      []string{"resource.labels.revision_name", "metric.labels.response_code_class"},
		},
		View: monitoringpb.ListTimeSeriesRequest_FULL,
	})
	out := map[string]int64{}
	for {
		ts, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatalf("ListTimeSeries: %v", err)
		}
		k := ts.GetResource().GetLabels()["revision_name"] + " " + ts.GetMetric().GetLabels()["response_code_class"]
		for _, p := range ts.GetPoints() {
			out[k] += p.GetValue().GetInt64Value()
		}
	}
}

// TestDataPlaneSplit is issue 17's acceptance test: at 95/5, 20,000
// requests to the service URL land on the candidate within the binomial
// 99.9% interval of 5%; every request to the candidate's tag URL lands on
// the candidate; request_count read through the official monitoring client
// equals the requests each revision answered, by response class.
func TestDataPlaneSplit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock() // the clock of both emulators
	mon, mc := newMonitoring(t, clk)
	stable, candidate := &counting{name: "stable", failEvery: 1000}, &counting{name: "candidate", failEvery: 50}
	e := newEnv(t, cloudrunfake.WithClock(clk), cloudrunfake.WithMonitoring(mon), cloudrunfake.WithRandomSource(rand.NewPCG(17, 95)),
		cloudrunfake.WithHandler(stableImage, stable), cloudrunfake.WithHandler("sha256:"+strings.Repeat("b", 64), candidate))
	svc := twoRevisions(t, e, 95, 5)
	c := e.srv.HTTPClient()
	t.Cleanup(c.CloseIdleConnections)
	start := clk.Now()

	const n = 20000
	codes := send(t, c, svc.GetUri(), n)
	// Binomial(20000, 0.05): mean 1000, sd 30.8; the two-sided 99.9%
	// interval is mean ± 3.29 sd.
	if got := candidate.n.Load(); got < 899 || got > 1101 {
		t.Errorf("candidate answered %d of %d requests, want 899..1101 (the 99.9%% interval of 5%%)", got, n)
	}
	if got := stable.n.Load() + candidate.n.Load(); got != n {
		t.Errorf("handlers answered %d requests, want %d", got, n)
	}
	before := candidate.n.Load()
	codes2 := send(t, c, tagURI(t, svc, "candidate"), 1000)
	if got := candidate.n.Load() - before; got != 1000 {
		t.Errorf("the candidate's tag URL reached the candidate %d times of 1000", got)
	}
	for k, v := range codes2 {
		codes[k] += v
	}
	if codes[200]+codes[500] != n+1000 {
		t.Errorf("status codes %v, want only 200 and 500", codes)
	}

	// Metrics count in the minute the responses ended; read them once the
	// minute is over and the 3-minute ingestion delay has passed.
	clk.Advance(5 * time.Minute)
	want := map[string]int64{
		"web-stable 2xx":    stable.n.Load() - stable.failed.Load(),
		"web-stable 5xx":    stable.failed.Load(),
		"web-candidate 2xx": candidate.n.Load() - candidate.failed.Load(),
		"web-candidate 5xx": candidate.failed.Load(),
	}
	got := requestCounts(t, mc, start.Add(-time.Minute), start.Add(5*time.Minute))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request_count by revision and class mismatch (-want +got):\n%s", diff)
	}
}

// TestDataPlaneRouting: unknown hosts and tags are 404 with a clear body;
// LATEST follows the latest ready revision; a request without a handler is
// 503 naming the fix; HandleImage registers late.
func TestDataPlaneRouting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := e.create(t, "web", service(stableImage))
	c := e.srv.HTTPClient()
	t.Cleanup(c.CloseIdleConnections)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("https://nope-abc-uc.a.run.app/"); code != http.StatusNotFound || !strings.Contains(body, `no Cloud Run service or tag of this emulator has the URL host "nope-abc-uc.a.run.app"`) {
		t.Errorf("unknown host = %d %q, want 404 naming the host", code, body)
	}
	host := strings.TrimPrefix(svc.GetUri(), "https://")
	if code, body := get("https://beta---" + host + "/"); code != http.StatusNotFound || !strings.Contains(body, `has no tag "beta"`) {
		t.Errorf("unknown tag = %d %q, want 404 naming the tag", code, body)
	}
	if code, body := get(svc.GetUri()); code != http.StatusServiceUnavailable || !strings.Contains(body, "HandleImage") {
		t.Errorf("no handler = %d %q, want 503 naming HandleImage", code, body)
	}
	e.srv.HandleImage(stableImage, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v1") }))
	e.srv.HandleImage("sha256:"+strings.Repeat("b", 64), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v2") }))
	if code, body := get(svc.GetUri() + "/x"); code != http.StatusOK || body != "v1" {
		t.Errorf("LATEST = %d %q, want v1", code, body)
	}
	svc.Template = &runpb.RevisionTemplate{Containers: []*runpb.Container{{Image: candidateImage}}}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: svc}); err != nil {
		t.Fatal(err)
	}
	if code, body := get(svc.GetUri()); code != http.StatusOK || body != "v2" {
		t.Errorf("LATEST after a deploy = %d %q, want v2", code, body)
	}
}

// TestDataPlaneInFlight: a request in flight when the split changes ends on
// the revision it started on, and requests during a traffic write are all
// answered.
func TestDataPlaneInFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "stable")
	})
	e := newEnv(t, cloudrunfake.WithHandler(stableImage, slow),
		cloudrunfake.WithHandler(candidateImage, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "candidate") })))
	svc := twoRevisions(t, e, 100, 0)
	url := svc.GetUri() // read here: the goroutines below must not read svc, which changes
	c := e.srv.HTTPClient()
	t.Cleanup(c.CloseIdleConnections)
	done := make(chan string, 1)
	go func() {
		resp, err := c.Get(url + "/slow")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-started
	// Move all traffic while the request is in flight, with requests
	// flowing.
	stop := make(chan struct{})
	var flowing sync.WaitGroup
	var failed atomic.Int64
	flowing.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(url)
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})
	svc = e.get(t, svcName)
	svc.Traffic = []*runpb.TrafficTarget{{Type: runpb.TrafficTargetAllocationType_TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION, Revision: "web-candidate", Percent: 100}}
	if _, err := e.update(t, &runpb.UpdateServiceRequest{Service: svc}); err != nil {
		t.Fatal(err)
	}
	close(stop)
	flowing.Wait()
	close(release)
	if got := <-done; got != "stable" {
		t.Errorf("the request in flight ended with %q, want stable (the revision it started on)", got)
	}
	if failed.Load() > 0 {
		t.Errorf("%d requests failed during the traffic write", failed.Load())
	}
	resp, err := c.Get(svc.GetUri())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "candidate" {
		t.Errorf("after the write: %q, want candidate", b)
	}
}
