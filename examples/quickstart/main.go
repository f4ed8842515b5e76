// Command quickstart tells the whole twostage story with a readable
// timeline: two commits deployed to dev, release v1.0.0 deployed to prod
// with no traffic and promoted 5% → 25% → 100% behind a health gate, then
// release v1.1.0 whose gate fails at 5% and is rolled back automatically,
// in one traffic write.
//
// By default it runs the real GCP implementations (stage/cloudrun over the
// official Cloud Run Admin API v2 client, registry/artifactregistry over the
// Artifact Registry client and an OCI registry) against in-process
// emulators on loopback, so the main job exercises the real client path.
// With -backend=fakes it runs on the in-memory fakes of package fake, the
// way you unit-test your own pipeline.
//
// On the emulators the releases really serve: the Cloud Run emulator's
// data plane routes 200 requests per simulated second by the traffic split
// to each revision's code (a Go handler registered for its image digest),
// and the gate reads the request counts those responses left in the Cloud
// Monitoring emulator, 3 minutes late as in Cloud Run. v1.1.0's code fails
// 5% of its requests and the gate rolls it back on those real responses.
// On the fakes a model of the users stands in for the requests.
//
// It needs no cloud account and finishes in seconds: time runs on a fake
// clock, so the 5-minute bake steps take no wall time.
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -backend=fakes
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/artifactregistry/apiv1/artifactregistrypb"
	"cloud.google.com/go/run/apiv2/runpb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/pipeline"
	"github.com/twostage/twostage/registry"
	"github.com/twostage/twostage/registry/artifactregistry"
	"github.com/twostage/twostage/registry/oci"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
	"github.com/twostage/twostage/traffic/analysis"
	"github.com/twostage/twostage/traffic/analysis/cloudmonitoring"
)

const repository = "europe-west1-docker.pkg.dev/acme/apps/api"

func main() {
	backend := flag.String("backend", "emulators", `"emulators": GCP implementations against in-process emulators; "fakes": in-memory fakes`)
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *backend); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// world is what the story runs on.
type world struct {
	reg        registry.Registry
	repository string
	dev, prod  pipeline.Service
	describe   string
	close      func()
	// editProd changes an environment variable of the prod service's
	// template behind twostage's back, as a console or Terraform edit does.
	editProd func(name, value string) error
	// setErrorRate sets a revision's error rate in the users' model (fakes).
	setErrorRate func(revision string, rate float64)

	// On the emulators (nil on the fakes): serve runs h for the revisions
	// of the image with the digest; client reaches the services' URLs;
	// prodURL is the prod service's URL ("" before it exists); metrics
	// reads Cloud Monitoring.
	serve   func(digest string, h http.Handler)
	client  *http.Client
	prodURL func() string
	metrics analysis.Metrics
}

// fakes returns the in-memory fakes.
func fakes(clock *fake.Clock) (*world, error) {
	prod := fake.NewService("api-prod", fake.WithClock(clock))
	return &world{
		reg:        fake.NewRegistry(fake.WithClock(clock)),
		repository: repository,
		dev:        fake.NewService("api-dev", fake.WithClock(clock)),
		prod:       prod,
		describe:   "in-memory fakes",
		close:      func() {},
		editProd: func(name, value string) error {
			live := prod.LiveSettings()
			if live.Env == nil {
				live.Env = map[string]string{}
			}
			live.Env[name] = value
			prod.SetLiveSettings(live)
			return nil
		},
	}, nil
}

// emulators returns stage/cloudrun and registry/artifactregistry wired to
// in-process Cloud Run and Artifact Registry emulators.
func emulators(ctx context.Context, clock *fake.Clock) (w *world, err error) {
	const (
		project = "projects/acme/locations/europe-west1"
		repo    = project + "/repositories/apps"
	)
	var closers []func()
	w = &world{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	mon, err := monitoringfake.NewServer(monitoringfake.WithClock(clock))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { mon.Close() })
	run, err := cloudrunfake.NewServer(cloudrunfake.WithClock(clock), cloudrunfake.WithMonitoring(mon))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { run.Close() })
	w.serve = run.HandleImage
	w.client = run.InProcessClient()
	w.prodURL = func() string {
		svc, _ := run.Service(project + "/services/api-prod")
		return svc.GetUri()
	}
	metrics, err := cloudmonitoring.New(ctx, "acme", "api-prod", cloudmonitoring.WithClientOptions(mon.ClientOptions()...), cloudmonitoring.WithClock(clock))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { metrics.Close() })
	w.metrics = metrics
	ar, err := artifactregistryfake.NewServer(artifactregistryfake.WithClock(clock), artifactregistryfake.WithRepository(&artifactregistrypb.Repository{
		Name: repo, Format: artifactregistrypb.Repository_DOCKER,
		FormatConfig: &artifactregistrypb.Repository_DockerConfig{DockerConfig: &artifactregistrypb.Repository_DockerRepositoryConfig{ImmutableTags: true}},
	}))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { ar.Close() })
	reg, err := artifactregistry.New(ctx, repo,
		artifactregistry.WithClientOptions(ar.ClientOptions()...),
		artifactregistry.WithHost(ar.RegistryHost()),
		artifactregistry.WithRegistryOptions(oci.WithInsecure()))
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { reg.Close() })
	w.reg, w.repository = reg, reg.Image("api")
	for _, svc := range []struct {
		name string
		dst  *pipeline.Service
	}{{"api-dev", &w.dev}, {"api-prod", &w.prod}} {
		s, err := cloudrun.New(ctx, project+"/services/"+svc.name, cloudrun.WithClientOptions(run.ClientOptions()...), cloudrun.WithClock(clock))
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { s.Close() })
		*svc.dst = s
	}
	w.editProd = func(name, value string) error {
		svc, ok := run.Service(project + "/services/api-prod")
		if !ok {
			return fmt.Errorf("no prod service to edit")
		}
		// Like a console edit, the changed template makes a new revision
		// (with a generated name); traffic is pinned, so it serves nothing.
		svc.Template.Revision = ""
		c := svc.GetTemplate().GetContainers()[0]
		for _, e := range c.GetEnv() {
			if e.GetName() == name {
				e.Values = &runpb.EnvVar_Value{Value: value}
			}
		}
		return run.SetService(svc)
	}
	w.describe = fmt.Sprintf("stage/cloudrun and registry/artifactregistry on in-process emulators: Cloud Run Admin API v2 (and its data plane) at %s, Artifact Registry at %s, Cloud Monitoring at %s", run.Addr, ar.RegistryHost(), mon.Addr)
	return w, nil
}

// run tells the story on backend ("emulators" or "fakes"), writing the
// timeline to out.
func run(ctx context.Context, out io.Writer, backend string) error {
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	var w *world
	var err error
	switch backend {
	case "emulators":
		w, err = emulators(ctx, clock)
	case "fakes":
		w, err = fakes(clock)
	default:
		return fmt.Errorf("unknown -backend %q: want \"emulators\" or \"fakes\"", backend)
	}
	if err != nil {
		return err
	}
	defer w.close()
	reg, dev, prod := w.reg, w.dev, w.prod
	tl := &timeline{w: out, start: clock.Now()}

	// The prod service exists before the first release, as Terraform or the
	// console created it, serving a placeholder.
	placeholder, err := reg.Push(ctx, w.repository+":placeholder", fake.NewImage("placeholder"))
	if err != nil {
		return err
	}
	if w.serve != nil {
		w.serve(placeholder.Digest, &app{version: "placeholder", failEvery: 1000})
	}
	if _, err := prod.Deploy(ctx, stage.Release{Artifact: placeholder, Revision: "placeholder", Traffic: stage.RouteAll}); err != nil {
		return err
	}

	// 200 requests a second reach prod; every revision fails 0.1% of them,
	// until v1.1.0, which fails 5%. The gate is the sequential test of
	// traffic/analysis: the candidate's errors against the stable's, given
	// their traffic shares, looked at every 5 seconds.
	var metrics analysis.Metrics
	var load *requests
	if w.serve != nil {
		// Real requests through the data plane; the gate reads what they
		// left in Cloud Monitoring.
		load = newRequests(clock, w.client, w.prodURL, 200)
		clock.OnSleep(load.advance)
		metrics = w.metrics
	} else {
		users := newUsers(prod, clock, 200)
		clock.OnSleep(users.advance)
		metrics = users.metrics
		w.setErrorRate = users.setErrorRate
	}
	gate, err := analysis.NewSequential(metrics, analysis.WithClock(clock))
	if err != nil {
		return err
	}
	// Build once, but each stage its own settings: dev logs at debug, prod
	// at info; everything else in the services' templates is kept.
	devSettings := stage.Overrides{Env: map[string]string{"LOG_LEVEL": "debug"}}
	prodSettings := stage.Overrides{Env: map[string]string{"LOG_LEVEL": "info"}}
	p, err := pipeline.New(reg, w.repository, dev, prod,
		pipeline.WithClock(clock),
		pipeline.WithAudit(tl),
		pipeline.WithGates(gate),
		pipeline.WithDevOverrides(devSettings),
		pipeline.WithProdOverrides(prodSettings),
	)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "twostage quickstart: build once, promote by traffic\n")
	fmt.Fprintf(out, "backend: %s; simulated clock\n", w.describe)
	fmt.Fprintf(out, "settings: dev %s, prod %s\n", envString(devSettings), envString(prodSettings))
	source := "a model of the users"
	if w.serve != nil {
		source = "Cloud Monitoring's request_count of real responses"
	}
	fmt.Fprintf(out, "plan %s; gate: sequential test of the candidate's errors against the stable's (traffic/analysis) on %s; 200 requests/s\n\n", traffic.DefaultPlan(), source)

	commits := []string{
		"8f14e45fceea167a5a36dedd4bea2543c1f0a2b7",
		"c9f0f895fb98ab9159f51fd0297e236d0c1a4b2e",
		"45c48cce2e2d7fbdea1afc51c7c6ad26a1b6e3f9",
	}
	for _, sha := range commits[:2] {
		if err := devDeploy(ctx, out, w, p, sha, "alice", 1000); err != nil {
			return err
		}
	}

	rel, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.0.0", SHA: commits[1], Actor: "alice"})
	if err != nil {
		return err
	}
	if _, err := p.Promote(ctx, pipeline.PromoteInput{Actor: "alice"}); err != nil {
		return err
	}

	// v1.1.0's code fails one request in 20.
	if err := devDeploy(ctx, out, w, p, commits[2], "bob", 20); err != nil {
		return err
	}
	bad, err := p.Release(ctx, pipeline.ReleaseInput{Tag: "v1.1.0", SHA: commits[2], Actor: "bob"})
	if err != nil {
		return err
	}
	if w.setErrorRate != nil {
		w.setErrorRate(bad.Revision.Name, 0.05)
	}
	_, err = p.Promote(ctx, pipeline.PromoteInput{Actor: "bob"})
	var rerr *traffic.RolloutError
	if !errors.As(err, &rerr) || !errors.Is(err, traffic.ErrRolledBack) {
		return fmt.Errorf("v1.1.0 should have been rolled back, got %v", err)
	}

	// Someone turns prod's logging up in the console: Status reports the
	// drift from what the pipeline declares, before the next release
	// would silently undo it.
	if err := w.editProd("LOG_LEVEL", "trace"); err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s console  someone sets LOG_LEVEL=trace on api-prod outside twostage\n", "")
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nfinal status\n%s", indent(st.String()))
	if load != nil {
		a := load.answers()
		fmt.Fprintf(out, "requests answered by prod: %d × 200, %d × 500\n", a[200], a[500])
	}
	if got := st.Prod.Split; traffic.Shares(got)[rel.Revision.Name] != 100 {
		return fmt.Errorf("prod should serve v1.0.0 at 100%%, serves %s", got)
	}
	return nil
}

// devDeploy builds the commit's image once, reproducibly and without a
// Docker daemon, and deploys it to dev; the digest dev (and later prod)
// runs is the one computed here.
func devDeploy(ctx context.Context, out io.Writer, w *world, p *pipeline.Pipeline, sha, actor string, failEvery int64) error {
	img, err := registry.Build(ctx, nil, registry.BuildSpec{
		Files:      map[string][]byte{"/app/VERSION": []byte(sha + "\n")},
		Entrypoint: []string{"/app/server"},
	})
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-10s build    commit %s → image %s\n", "", sha[:7], short(digest.String()))
	if w.serve != nil {
		// The image's code, run by the emulator for its revisions.
		w.serve(digest.String(), &app{version: sha[:7], failEvery: failEvery})
	}
	_, err = p.Dev(ctx, pipeline.DevInput{SHA: sha, Branch: "main", Actor: actor, Image: img})
	return err
}

// users models the service's users deterministically: as the clock moves,
// each prod revision serves requestsPerSecond × its traffic share, failing
// at its error rate, and the counts go to the metrics source the gate reads
// (in production: Cloud Monitoring, analysis/cloudmonitoring).
type users struct {
	prod              traffic.Router
	metrics           *analysis.Script
	requestsPerSecond float64

	mu     sync.Mutex // guards the fields below
	rates  map[string]float64
	last   time.Time
	served map[string]float64 // expected requests so far, per revision
	failed map[string]float64 // expected errors so far, per revision
	counts map[string]analysis.Count
}

func newUsers(prod traffic.Router, clock twostage.Clock, rps float64) *users {
	return &users{
		prod: prod, metrics: analysis.NewScript(clock, 0), requestsPerSecond: rps,
		rates: map[string]float64{}, last: clock.Now(),
		served: map[string]float64{}, failed: map[string]float64{}, counts: map[string]analysis.Count{},
	}
}

// setErrorRate sets the share of revision's requests that fail (default 0.1%).
func (u *users) setErrorRate(revision string, rate float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.rates[revision] = rate
}

// advance records the traffic served from the last call until now, split as
// the service routes it now (the split changes only between sleeps).
func (u *users) advance(now time.Time) {
	sp, err := u.prod.Split(context.Background())
	if err != nil {
		return // no service yet
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	dt := now.Sub(u.last).Seconds()
	for rev, pct := range traffic.Serving(sp) {
		if rev == "" {
			continue
		}
		rate, ok := u.rates[rev]
		if !ok {
			rate = 0.001
		}
		u.served[rev] += u.requestsPerSecond * float64(pct) / 100 * dt
		u.failed[rev] += u.requestsPerSecond * float64(pct) / 100 * dt * rate
		total := analysis.Count{Requests: int64(u.served[rev]), Errors: int64(u.failed[rev])}
		u.metrics.Record(rev, u.last, total.Sub(u.counts[rev]))
		u.counts[rev] = total
	}
	u.last = now
}

// timeline is an audit sink that prints each event as a line of the story.
type timeline struct {
	w     io.Writer
	start time.Time
}

func (t *timeline) Record(_ context.Context, e pipeline.AuditEvent) error {
	at := fmt.Sprintf("[+%s]", fmtDuration(e.Time.Sub(t.start)))
	switch e.Action {
	case pipeline.ActionDev:
		fmt.Fprintf(t.w, "%-10s dev      commit %s → %s (%s) serves 100%%\n", at, e.SHA[:7], e.Revision, short(e.Digest))
	case pipeline.ActionRelease:
		fmt.Fprintf(t.w, "%-10s release  %s (commit %s, %s) → %s at 0%%\n", at, e.Ref, e.SHA[:7], short(e.Digest), e.Revision)
		fmt.Fprintf(t.w, "%-10s          prod %s  →  %s\n", "", e.Before, e.After)
	case pipeline.ActionStep:
		fmt.Fprintf(t.w, "%-10s promote  step %d: %s %s at %d%%: %s\n", at, e.Step, e.Revision, e.Decision, e.Percent, e.After)
	case pipeline.ActionGate:
		for _, v := range e.Verdicts {
			fmt.Fprintf(t.w, "%-10s   gate   %s %s: %s\n", at, v.Gate, v.Outcome, v.Reason)
		}
	case pipeline.ActionRollback:
		fmt.Fprintf(t.w, "%-10s ROLLBACK step %d (%d%%): %s\n", at, e.Step, e.Percent, e.Reason)
		fmt.Fprintf(t.w, "%-10s          prod %s  →  %s  (one write)\n", "", e.Before, e.After)
	default:
		fmt.Fprintf(t.w, "%-10s %s %s: %s\n", at, e.Action, e.Decision, e.Reason)
	}
	return nil
}

func envString(o stage.Overrides) string {
	var parts []string
	for k, v := range o.Env {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func fmtDuration(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
