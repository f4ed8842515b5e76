package cloudrunfake_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/monitoringfake"
)

var hello = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })

// benchService serves one revision of a Go handler, recording in a
// monitoring emulator, and returns its URL.
func benchService(b *testing.B) (*env, string) {
	b.Helper()
	mon, err := monitoringfake.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = mon.Close() })
	e := newEnv(b, cloudrunfake.WithHandler(stableImage, hello), cloudrunfake.WithMonitoring(mon))
	svc := e.create(b, "web", service(stableImage))
	return e, svc.GetUri()
}

func get(b *testing.B, c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkDataPlaneThroughput: requests per second through the data plane
// over loopback HTTP/1.1 to a Go handler, from parallel clients (routing,
// the handler and the request_count/request_latencies recording).
func BenchmarkDataPlaneThroughput(b *testing.B) {
	e, url := benchService(b)
	c := e.srv.HTTPClient()
	defer c.CloseIdleConnections()
	b.ReportAllocs()
	b.SetParallelism(8)
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(b, c, url)
		}
	})
	reportRate(b, start, cpu)
}

// BenchmarkDataPlaneInProcess: the same without the network
// (InProcessClient), as simulated-time tests send.
func BenchmarkDataPlaneInProcess(b *testing.B) {
	e, url := benchService(b)
	c := e.srv.InProcessClient()
	b.ReportAllocs()
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(b, c, url)
		}
	})
	reportRate(b, start, cpu)
}

// BenchmarkDataPlaneAddedLatency: the median latency the data plane adds to
// one request over loopback, against the same handler served directly by
// an httptest.Server (one request at a time, alternating).
func BenchmarkDataPlaneAddedLatency(b *testing.B) {
	e, url := benchService(b)
	c := e.srv.HTTPClient()
	defer c.CloseIdleConnections()
	direct := httptest.NewServer(hello)
	defer direct.Close()
	dc := direct.Client()
	var via, plain []time.Duration
	for b.Loop() {
		t0 := time.Now()
		get(b, c, url)
		t1 := time.Now()
		get(b, dc, direct.URL)
		via, plain = append(via, t1.Sub(t0)), append(plain, time.Since(t1))
	}
	slices.Sort(via)
	slices.Sort(plain)
	p50 := func(d []time.Duration) float64 { return float64(d[len(d)/2].Microseconds()) }
	b.ReportMetric(p50(via), "p50-µs")
	b.ReportMetric(p50(plain), "direct-p50-µs")
	b.ReportMetric(p50(via)-p50(plain), "added-p50-µs")
}

// BenchmarkDirectThroughput is BenchmarkDataPlaneThroughput's baseline: the
// same handler on a plain httptest.Server, the same clients, no data plane.
func BenchmarkDirectThroughput(b *testing.B) {
	direct := httptest.NewServer(hello)
	defer direct.Close()
	// The data plane client's transport settings (NewTransport).
	c := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer c.CloseIdleConnections()
	b.ReportAllocs()
	b.SetParallelism(8)
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			get(b, c, direct.URL)
		}
	})
	reportRate(b, start, cpu)
}

// reportRate reports requests per wall second and the CPU time per request
// (client and server together: both run in this process), which on a
// shared machine says more than the rate: 2 idle cores serve about
// 2 s / cpu-µs/req requests a second.
func reportRate(b *testing.B, start time.Time, cpu time.Duration) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	if used := cpuTime() - cpu; used > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/req")
	}
}
