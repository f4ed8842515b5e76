package cloudrunfake

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/twostage/twostage/fake/monitoringfake"
)

// dataPlaneConfig holds the data plane's options (see the With* functions
// of this file).
type dataPlaneConfig struct {
	handlers map[string]http.Handler // by image reference or digest
	monitor  *monitoringfake.Server
	random   rand.Source
	images   func(ctx context.Context, image string) (v1.Image, error)
	idle     time.Duration
}

// WithHandler serves every revision whose (first) container runs image with
// h, as if h were the container: image is a full reference
// ("HOST/PROJECT/REPO/IMAGE@sha256:…" or "…:TAG") or a digest
// ("sha256:…") matching any reference with that digest. See
// [Server.HandleImage] to register one later. The default registers none.
func WithHandler(image string, h http.Handler) Option {
	return func(c *config) {
		if c.dp.handlers == nil {
			c.dp.handlers = map[string]http.Handler{}
		}
		c.dp.handlers[image] = h
	}
}

// WithMonitoring records every request the data plane routes in m, as Cloud
// Run reports run.googleapis.com/request_count and request_latencies (see
// monitoringfake.Server.Record). The default records nowhere.
func WithMonitoring(m *monitoringfake.Server) Option {
	return func(c *config) { c.dp.monitor = m }
}

// WithRandomSource sets the source of the random numbers that route a
// request to a revision by the traffic split, so a test can fix the
// sequence. The default is a PCG seeded at random.
func WithRandomSource(src rand.Source) Option {
	return func(c *config) { c.dp.random = src }
}

// WithImageSource sets where the data plane gets the images of revisions no
// handler serves (see [RegistryImages] for an OCI registry served in
// process). An image whose entrypoint is an executable for this machine runs
// as a local process; one with no entrypoint, or whose entrypoint is not in
// the image, serves its files; any other entrypoint makes the revision fail
// to become ready. The default is none: such revisions answer 503.
func WithImageSource(f func(ctx context.Context, image string) (v1.Image, error)) Option {
	return func(c *config) { c.dp.images = f }
}

// WithIdleTimeout sets how long a revision's process runs without requests
// before the data plane stops it (it starts again on the next request). The
// default is 15 minutes (unverified: Cloud Run documents no fixed idle
// time).
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.dp.idle = d
		}
	}
}

// dataPlane routes HTTP requests to revisions by the traffic split.
type dataPlane struct {
	s   *server
	cfg dataPlaneConfig

	randMu sync.Mutex // guards rnd
	rnd    *rand.Rand

	mu       sync.Mutex // guards handlers, runs and closed
	handlers map[string]http.Handler
	runs     map[string]*imageRun // by image reference
	closed   bool
}

func newDataPlane(s *server, cfg dataPlaneConfig) *dataPlane {
	src := cfg.random
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	if cfg.idle <= 0 {
		cfg.idle = 15 * time.Minute
	}
	d := &dataPlane{s: s, cfg: cfg, rnd: rand.New(src), handlers: map[string]http.Handler{}, runs: map[string]*imageRun{}}
	for k, h := range cfg.handlers {
		d.handlers[k] = h
	}
	return d
}

// DataPlane returns the handler that serves the services' URLs: a request
// whose Host is the host of a service URL (Service.uri or one of urls) goes
// to a revision drawn with the probabilities of the service's serving
// traffic (traffic_statuses, LATEST resolved); one whose Host is a tag URL's
// goes to the tagged revision; any other Host is answered 404. The server's
// own address serves it beside gRPC; [NewHTTPClient] sends *.run.app
// requests there.
func (s *Server) DataPlane() http.Handler { return s.s.dp }

// HandleImage serves the revisions that run image with h from now on (see
// [WithHandler]); a nil h removes the handler. Requests already routed keep
// the handler they started with.
func (s *Server) HandleImage(image string, h http.Handler) {
	d := s.s.dp
	d.mu.Lock()
	defer d.mu.Unlock()
	if h == nil {
		delete(d.handlers, image)
		return
	}
	d.handlers[image] = h
}

// target is the revision a request was routed to.
type target struct {
	project, location, service, revision string
	image                                string
	env                                  []*runpb.EnvVar
	tag                                  string // set when routed by a tag URL
}

// hostOf returns the lower-case host of a URL or Host header, without port.
func hostOf(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if strings.IndexByte(s, ':') >= 0 { // SplitHostPort allocates an error for a bare host
		if h, _, err := net.SplitHostPort(s); err == nil {
			s = h
		}
	}
	return strings.ToLower(s)
}

// route picks the revision for host, or explains why none serves it.
func (d *dataPlane) route(host string) (target, int, string) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	tag, rest, tagged := strings.Cut(host, "---")
	for _, st := range s.services {
		svc := st.svc
		if tagged {
			if hostOf(svc.GetUri()) != rest {
				continue
			}
			for _, ts := range svc.GetTrafficStatuses() {
				if ts.GetTag() == tag && hostOf(ts.GetUri()) == host {
					t, ok := d.target(st, ts.GetRevision())
					if !ok {
						return target{}, http.StatusServiceUnavailable, fmt.Sprintf("cloudrunfake: tag %q of service %s names revision %q, which cannot serve", tag, svc.GetName(), ts.GetRevision())
					}
					t.tag = tag
					return t, 0, ""
				}
			}
			return target{}, http.StatusNotFound, fmt.Sprintf("cloudrunfake: service %s has no tag %q", svc.GetName(), tag)
		}
		if hostOf(svc.GetUri()) != host && !slices.ContainsFunc(svc.GetUrls(), func(u string) bool { return hostOf(u) == host }) {
			continue
		}
		total := int32(0)
		for _, ts := range svc.GetTrafficStatuses() {
			total += ts.GetPercent()
		}
		if total <= 0 {
			return target{}, http.StatusServiceUnavailable, fmt.Sprintf("cloudrunfake: service %s serves no revision yet", svc.GetName())
		}
		d.randMu.Lock()
		n := d.rnd.Int32N(total)
		d.randMu.Unlock()
		for _, ts := range svc.GetTrafficStatuses() {
			if n -= ts.GetPercent(); n < 0 {
				t, ok := d.target(st, ts.GetRevision())
				if !ok {
					return target{}, http.StatusServiceUnavailable, fmt.Sprintf("cloudrunfake: service %s routes to revision %q, which cannot serve", svc.GetName(), ts.GetRevision())
				}
				return t, 0, ""
			}
		}
	}
	return target{}, http.StatusNotFound, fmt.Sprintf("cloudrunfake: no Cloud Run service or tag of this emulator has the URL host %q", host)
}

// target describes the revision short of st. The caller holds s.mu.
func (d *dataPlane) target(st *serviceState, short string) (target, bool) {
	r, ok := st.revisions[short]
	if !ok || !revisionReady(r.rev) {
		return target{}, false
	}
	project, location, service := splitServiceName(st.svc.GetName())
	t := target{project: project, location: location, service: service, revision: short}
	if cs := r.rev.GetContainers(); len(cs) > 0 {
		t.image, t.env = cs[0].GetImage(), cs[0].GetEnv()
	}
	return t, true
}

// handler returns what serves image: a registered handler, else the image
// (a process or its files), else nil with the reason.
func (d *dataPlane) handler(ctx context.Context, t target) (http.Handler, string) {
	d.mu.Lock()
	h := d.handlers[t.image]
	if h == nil {
		if _, digest, ok := strings.Cut(t.image, "@"); ok {
			h = d.handlers[digest]
		}
	}
	d.mu.Unlock()
	if h != nil {
		return h, ""
	}
	if d.cfg.images == nil {
		return nil, fmt.Sprintf("cloudrunfake: no handler is registered for image %q of revision %s (Server.HandleImage, WithHandler) and no image source is set (WithImageSource)", t.image, t.revision)
	}
	run, err := d.imageRun(ctx, t.image)
	if err != nil {
		return nil, err.Error()
	}
	return run.handler(t), ""
}

// ServeHTTP routes one request; see [Server.DataPlane].
func (d *dataPlane) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t, code, msg := d.route(hostOf(r.Host))
	if code != 0 {
		http.Error(w, msg, code)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	h, why := d.handler(r.Context(), t)
	d.serveProfiled(rec, r, h, why, t.revision)
	d.record(t, rec.code(), time.Since(start)+rec.extra)
}

// record reports one response to the monitoring emulator.
func (d *dataPlane) record(t target, code int, latency time.Duration) {
	if d.cfg.monitor == nil {
		return
	}
	d.cfg.monitor.Record(monitoringfake.Response{
		Project: t.project, Location: t.location, Service: t.service, Revision: t.revision,
		Code: code, Latency: latency, End: d.s.cfg.Clock.Now(),
	})
}

// statusRecorder remembers the status code of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	extra  time.Duration // simulated latency (profiles) not spent on the wall clock
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status answered; a handler that wrote nothing answered 200.
func (r *statusRecorder) code() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// close stops every process.
func (d *dataPlane) close() {
	d.mu.Lock()
	d.closed = true
	runs := d.runs
	d.runs = map[string]*imageRun{}
	d.mu.Unlock()
	for _, r := range runs {
		r.close()
	}
}
