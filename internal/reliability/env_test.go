package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	run "cloud.google.com/go/run/apiv2"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

// fault is one kind of failure the matrix injects.
type fault struct {
	name  string
	code  codes.Code // gRPC code of an error fault
	http  int        // HTTP status of the same fault, for REST emulators
	crash bool       // cancel the flow's context right after the call is accepted
	once  bool       // fail only the one call, not every later call of its method
}

// retryable reports whether a single such failure must be absorbed by
// the clients' retries.
func (f fault) retryable() bool {
	return f.once && (f.code == codes.Unavailable || f.code == codes.DeadlineExceeded || f.code == codes.ResourceExhausted)
}

// faults returns the faults: each error as an outage of the method for
// the rest of the first run, and once (a blip the retries may absorb),
// and the crash.
func faults() []fault {
	errs := []fault{
		{name: "UNAVAILABLE", code: codes.Unavailable, http: http.StatusServiceUnavailable},
		{name: "DEADLINE_EXCEEDED", code: codes.DeadlineExceeded, http: http.StatusGatewayTimeout},
		{name: "RESOURCE_EXHAUSTED", code: codes.ResourceExhausted, http: http.StatusTooManyRequests},
		{name: "CONFLICT", code: codes.Aborted, http: http.StatusConflict},
		{name: "INTERNAL", code: codes.Internal, http: http.StatusInternalServerError},
	}
	out := append([]fault(nil), errs...)
	for _, f := range errs {
		f.name, f.once = f.name+"_once", true
		out = append(out, f)
	}
	return append(out, fault{name: "CRASH", crash: true})
}

// injector sits in front of an emulator (a gRPC interceptor or an HTTP
// handler): it logs every call, injects the armed fault at the n-th call of
// one method, and runs the invariant checks after every call.
type injector struct {
	mu     sync.Mutex // guards every field below
	counts map[string]int
	log    []string
	armed  bool
	key    string
	n      int
	f      fault
	cancel context.CancelFunc
	fired  bool
	after  func() // the invariant checks
}

// arm injects f at the n-th call of key (counted from now); an error fault
// keeps failing key for the rest of the run, a crash cancels via cancel
// right after the n-th call.
func (in *injector) arm(key string, n int, f fault, cancel context.CancelFunc) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counts, in.log = map[string]int{}, nil
	in.armed, in.key, in.n, in.f, in.cancel, in.fired = true, key, n, f, cancel, false
}

// disarm stops injecting and reports whether the fault fired.
func (in *injector) disarm() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.armed = false
	return in.fired
}

// reset empties the call log.
func (in *injector) reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.counts, in.log = map[string]int{}, nil
}

// calls returns the calls logged since the last reset or arm.
func (in *injector) calls() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.log...)
}

func (in *injector) setAfter(f func()) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.after = f
}

// enter counts a call of key and says what to do with it.
func (in *injector) enter(key string) (inject bool, crash bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.counts == nil {
		in.counts = map[string]int{}
	}
	in.counts[key]++
	in.log = append(in.log, key)
	if !in.armed || key != in.key || in.counts[key] < in.n {
		return false, false
	}
	if in.f.crash || in.f.once {
		if in.counts[key] == in.n && in.f.once {
			in.fired = true
			return true, false
		}
		if in.counts[key] == in.n {
			in.fired = true
			return false, true
		}
		return false, false
	}
	in.fired = true
	return true, false
}

func (in *injector) crashNow() {
	in.mu.Lock()
	cancel := in.cancel
	in.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (in *injector) check() {
	in.mu.Lock()
	after := in.after
	in.mu.Unlock()
	if after != nil {
		after()
	}
}

func (in *injector) faultCode() (codes.Code, int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.f.code, in.f.http
}

// unary is the gRPC server interceptor.
func (in *injector) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	inject, crash := in.enter(info.FullMethod)
	defer in.check()
	if inject {
		code, _ := in.faultCode()
		return nil, status.Errorf(code, "injected %s on %s", code, info.FullMethod)
	}
	resp, err := h(ctx, req)
	if crash {
		in.crashNow()
	}
	return resp, err
}

// handler wraps a REST emulator; the method key is "VERB /path".
func (in *injector) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		// Upload sessions have random ids: one key for all.
		if i := strings.Index(key, "/blobs/uploads/"); i >= 0 {
			key = key[:i+len("/blobs/uploads/")] + "*"
		}
		inject, crash := in.enter(key)
		defer in.check()
		if inject {
			code, httpCode := in.faultCode()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(httpCode)
			// Google's JSON error shape.
			_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"code": httpCode, "message": fmt.Sprintf("injected %s on %s", code, key), "status": canonical(code),
			}})
			return
		}
		h.ServeHTTP(w, r)
		if crash {
			in.crashNow()
		}
	})
}

// canonical returns the canonical name of code, as Google's JSON errors
// spell it ("RESOURCE_EXHAUSTED").
func canonical(code codes.Code) string {
	var b strings.Builder
	for i, r := range code.String() {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// serveGRPC serves register's services on loopback behind in and returns
// the client options that reach them.
func serveGRPC(t testing.TB, in *injector, register func(grpc.ServiceRegistrar)) []option.ClientOption {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(in.unary))
	register(g)
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); <-done })
	return []option.ClientOption{
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
}

// serveHTTP serves h on loopback behind in.
func serveHTTP(t testing.TB, in *injector, h http.Handler) []option.ClientOption {
	t.Helper()
	hs := httptest.NewServer(in.handler(h))
	t.Cleanup(hs.Close)
	return []option.ClientOption{option.WithEndpoint(hs.URL), option.WithoutAuthentication(), option.WithHTTPClient(hs.Client())}
}

const (
	project  = "proj"
	region   = "europe-west1"
	devName  = "projects/" + project + "/locations/" + region + "/services/api-dev"
	prodName = "projects/" + project + "/locations/" + region + "/services/api"
	repo     = "europe-west1-docker.pkg.dev/proj/apps/api"
	arRepo   = "projects/" + project + "/locations/" + region + "/repositories/apps"
	sha1     = "1111111111111111111111111111111111111111"
	sha2     = "2222222222222222222222222222222222222222"
)

// runEnv is the two-stage pipeline on Cloud Run stages wired to the Cloud
// Run emulator (behind an injector), an in-memory registry and a fake
// clock.
type runEnv struct {
	srv       *cloudrunfake.Server
	in        *injector
	clk       *fake.Clock
	reg       registry.Registry // Artifact Registry (registry/artifactregistry) on its emulator
	repo      string            // the image repository, "HOST/proj/apps/api"
	ar        *artifactregistryfake.Server
	dev, prod *cloudrun.Service
	p         *pipeline.Pipeline
	pausing   *pipeline.Pipeline // a gate that stays inconclusive: Promote pauses at 5%
	chk       *Checker
	watch     *StateWatch
	mk        func(t testing.TB, name string) *cloudrun.Service

	checking sync.Mutex // serialises checkAll, so states are observed in the order they were read

	mu         sync.Mutex     // guards the fields below
	prodServes map[string]int // non-nil: prod must keep serving exactly this (a release)
	stable     string         // must serve until the promotion finishes
}

func newRunEnv(t testing.TB, opts ...pipeline.Option) *runEnv {
	t.Helper()
	return newRunEnvWith(t, nil, opts...)
}

// newRunEnvWith is newRunEnv with options for the Cloud Run emulator.
func newRunEnvWith(t testing.TB, srvOpts []cloudrunfake.Option, opts ...pipeline.Option) *runEnv {
	t.Helper()
	return newRunEnvOn(t, &injector{}, srvOpts, func(*runEnv) []pipeline.Option { return opts })
}

// newRunEnvOn is newRunEnvWith behind the injector in, with the pipeline
// options that pipelineOpts returns once the world's clock exists.
func newRunEnvOn(t testing.TB, in *injector, srvOpts []cloudrunfake.Option, pipelineOpts func(*runEnv) []pipeline.Option) *runEnv {
	t.Helper()
	ctx := context.Background()
	e := &runEnv{in: in, clk: fake.NewClock(time.Time{}), chk: &Checker{}, watch: &StateWatch{}}
	srv, err := cloudrunfake.NewServer(append([]cloudrunfake.Option{cloudrunfake.WithoutListener(), cloudrunfake.WithClock(e.clk)}, srvOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	// Artifact Registry: its API on a gRPC server, its OCI registry on an
	// HTTP server, both behind the same injector as Cloud Run.
	var ociHandler http.Handler
	hs := httptest.NewServer(e.in.handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ociHandler.ServeHTTP(w, r) })))
	t.Cleanup(hs.Close)
	host := strings.TrimPrefix(hs.URL, "http://")
	e.ar, err = artifactregistryfake.NewServer(artifactregistryfake.WithoutListener(), artifactregistryfake.WithRegistryHost(host),
		artifactregistryfake.WithClock(e.clk), artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
			Name: arRepo, Format: artifactregistrypb.Repository_DOCKER,
			FormatConfig: &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: true}},
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ar.Close() })
	ociHandler = e.ar.OCIHandler()
	copts := serveGRPC(t, e.in, srv.Register)
	// Both serve google.longrunning.Operations: one gRPC server each.
	aropts := serveGRPC(t, e.in, e.ar.Register)
	// registry/oci retries on the fake clock it gets from
	// artifactregistry.WithClock, so no test sleeps.
	areg, err := artifactregistry.New(ctx, arRepo, artifactregistry.WithClientOptions(aropts...), artifactregistry.WithHost(host),
		artifactregistry.WithClock(e.clk), artifactregistry.WithRetry(twostage.Retry{Attempts: 4}),
		artifactregistry.WithRegistryOptions(oci.WithInsecure()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { areg.Close() })
	e.reg, e.repo = areg, areg.Image("api")
	sc, err := run.NewServicesClient(ctx, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	rc, err := run.NewRevisionsClient(ctx, copts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	e.mk = func(t testing.TB, name string) *cloudrun.Service {
		t.Helper()
		s, err := cloudrun.New(ctx, name, cloudrun.WithServicesClient(sc), cloudrun.WithRevisionsClient(rc), cloudrun.WithClock(e.clk),
			cloudrun.WithRetry(twostage.Retry{Attempts: 3}))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.dev, e.prod = e.mk(t, devName), e.mk(t, prodName)
	base := append([]pipeline.Option{pipeline.WithClock(e.clk)}, pipelineOpts(e)...)
	if e.p, err = pipeline.New(e.reg, e.repo, e.dev, e.prod, base...); err != nil {
		t.Fatal(err)
	}
	inconclusive := traffic.GateFunc(func(context.Context, traffic.Check) (traffic.Verdict, error) {
		return traffic.Verdict{Gate: "wait", Outcome: traffic.Inconclusive, Reason: "not enough data"}, nil
	})
	if e.pausing, err = pipeline.New(e.reg, e.repo, e.dev, e.prod, append(base, pipeline.WithGates(inconclusive))...); err != nil {
		t.Fatal(err)
	}
	e.in.setAfter(e.checkAll)
	return e
}

// newProd returns another Service for prod, as another runner would have.
func (e *runEnv) newProd(t testing.TB) *cloudrun.Service { return e.mk(t, prodName) }

// runner returns another pipeline on the same services, as another CI
// runner would have: its own stages and caches, the same registry.
func (e *runEnv) runner(t testing.TB) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.New(e.reg, e.repo, e.mk(t, devName), e.mk(t, prodName), pipeline.WithClock(e.clk))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAll runs every invariant on the emulator's state.
func (e *runEnv) checkAll() {
	e.checking.Lock()
	defer e.checking.Unlock()
	dev, _ := e.srv.Service(devName)
	prod, _ := e.srv.Service(prodName)
	CheckTraffic(e.chk, "dev", dev, e.srv.Revisions(devName))
	CheckTraffic(e.chk, "prod", prod, e.srv.Revisions(prodName))
	if prod == nil {
		return
	}
	st, err := State(prod)
	if err == nil {
		e.watch.Observe(e.chk, "prod", st)
	}
	serving := Serving(prod)
	e.mu.Lock()
	want, stable := e.prodServes, e.stable
	e.mu.Unlock()
	if want != nil {
		e.chk.Expect(Describe(want) == Describe(serving), "prod: a release changed who serves prod from %s to %s", Describe(want), Describe(serving))
	}
	if stable != "" {
		finished := st.Phase == traffic.Succeeded && st.Stable == stable
		e.chk.Expect(finished || serving[stable] > 0, "prod: stable revision %s stopped serving before the promotion finished (%s; rollout %s %s)", stable, Describe(serving), st.Candidate, st.Phase)
	}
}

// expect sets the flow's own invariants from the current state: with
// release, prod must keep serving exactly what it serves now; the revision
// serving 100% now must serve until a promotion finishes.
func (e *runEnv) expect(release bool) {
	prod, _ := e.srv.Service(prodName)
	serving := Serving(prod)
	e.mu.Lock()
	defer e.mu.Unlock()
	if release {
		e.prodServes = serving
	}
	e.stable = ""
	for rev, p := range serving {
		if p == 100 {
			e.stable = rev
		}
	}
	if st, err := State(prod); err == nil && !st.Phase.Done() && st.Stable != "" {
		e.stable = st.Stable
	}
}

// snapshot is the part of the state a flow must converge to.
type snapshot struct {
	DevServing, ProdServing map[string]int
	ProdTags                map[string]string
	Rollout                 struct {
		Candidate, Stable string
		Phase             traffic.Phase
		Step              int
	}
	DevRevisions, ProdRevisions []string
	// ImageTags maps every tag of the image repository to its digest: a
	// re-run must neither move a tag nor leave one behind.
	ImageTags map[string]string
}

func (e *runEnv) snapshot() snapshot {
	dev, _ := e.srv.Service(devName)
	prod, _ := e.srv.Service(prodName)
	var s snapshot
	s.DevServing, s.ProdServing, s.ProdTags = Serving(dev), Serving(prod), Tags(prod)
	st, _ := State(prod)
	s.Rollout.Candidate, s.Rollout.Stable, s.Rollout.Phase, s.Rollout.Step = st.Candidate, st.Stable, st.Phase, st.Step
	s.DevRevisions, s.ProdRevisions = RevisionNames(e.srv.Revisions(devName)), RevisionNames(e.srv.Revisions(prodName))
	s.ImageTags = e.imageTags()
	return s
}

// imageTags reads the image repository's tags and their digests straight
// from the OCI handler (not through the injector, so the reads are not
// calls of the flow).
func (e *runEnv) imageTags() map[string]string {
	path := "/v2/" + strings.SplitN(e.repo, "/", 2)[1]
	get := func(method, url string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(method, url, nil)
		r.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
		e.ar.OCIHandler().ServeHTTP(w, r)
		return w
	}
	w := get(http.MethodGet, path+"/tags/list")
	if w.Code == http.StatusNotFound {
		return nil
	}
	var list struct{ Tags []string }
	if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil {
		panic(fmt.Sprintf("reading the tags of %s: HTTP %d: %v", e.repo, w.Code, err))
	}
	out := map[string]string{}
	for _, tag := range list.Tags {
		out[tag] = get(http.MethodHead, path+"/manifests/"+tag).Header().Get("Docker-Content-Digest")
	}
	return out
}

// image returns the image built from commit sha (the same bytes every
// time: a reproducible build).
func image(sha string) v1.Image { return fake.NewImage("build of " + sha) }

// placeholder creates the prod service serving a placeholder image.
func (e *runEnv) placeholder(ctx context.Context) error {
	a, err := e.reg.Push(ctx, e.repo+":placeholder", fake.NewImage("placeholder"))
	if err != nil {
		return err
	}
	_, err = e.prod.Deploy(ctx, stage.Release{Artifact: a, Revision: "placeholder", Traffic: stage.RouteAll})
	return err
}
