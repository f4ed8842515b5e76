package cloudrun_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"

	run "cloud.google.com/go/run/apiv2"
	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/fake/cloudrunfake"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/stage/stagetest"
	"github.com/twostage/twostage/traffic"
)

func release(suffix string, tr stage.Traffic, tags ...string) stage.Release {
	return stage.Release{Artifact: stagetest.Artifact(suffix), Revision: suffix, Traffic: tr, Tags: tags}
}

func mustDeploy(t testing.TB, s stage.Stage, r stage.Release) stage.Revision {
	t.Helper()
	rev, err := s.Deploy(context.Background(), r)
	if err != nil {
		t.Fatalf("Deploy(%s, %s) error: %v", r.Revision, r.Traffic, err)
	}
	return rev
}

func TestNewValidatesTheServiceName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"",
		"api",
		"projects/p/locations/r/services/",
		"projects/p/locations/r/services/API",
		"projects/p/locations/r/services/1api",
		"projects/p/locations/r/services/api-",
		"projects/p/locations/r/services/" + strings.Repeat("a", 50),
		"projects//locations/r/services/api",
		"projects/p/locations//services/api",
		"projects/p/regions/r/services/api",
		"projects/p/locations/r/services/api/revisions/x",
	} {
		_, err := cloudrun.New(t.Context(), name)
		if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "projects/PROJECT/locations/REGION/services/SERVICE") {
			t.Errorf("New(%q) error %v, want one wrapping twostage.ErrInvalid that shows the expected form", name, err)
		}
	}
}

func TestNewNameAndClose(t *testing.T) {
	t.Parallel()
	srv, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	sc, err := run.NewServicesClient(t.Context(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	rc, err := run.NewRevisionsClient(t.Context(), srv.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	s, err := cloudrun.New(t.Context(), svcName, cloudrun.WithServicesClient(sc), cloudrun.WithRevisionsClient(rc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != svcShort || s.ResourceName() != svcName {
		t.Errorf("Name(), ResourceName() = %q, %q, want %q, %q", s.Name(), s.ResourceName(), svcShort, svcName)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() error: %v", err)
	}
	// Handed-in clients stay open.
	if _, err := sc.GetService(t.Context(), &runpb.GetServiceRequest{Name: svcName}); status.Code(err) != codes.NotFound {
		t.Errorf("GetService through the handed-in client after Close: %v, want NOT_FOUND from the emulator", err)
	}
	if _, err := rc.GetRevision(t.Context(), &runpb.GetRevisionRequest{Name: svcName + "/revisions/api-x"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRevision through the handed-in client after Close: %v, want NOT_FOUND from the emulator", err)
	}
}

// TestAPIEconomy counts the calls each operation makes through the official
// client, from the emulator's request log. Steps run in order on one
// Service, which starts a deploy from the service it last read or wrote;
// "another process" steps use a second Service with nothing cached.
func TestAPIEconomy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := t.Context()
	// another returns a new Service, as another process would have.
	another := func(t *testing.T) *cloudrun.Service {
		other, err := cloudrun.New(ctx, svcName, cloudrun.WithClientOptions(e.srv.ClientOptions()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		return other
	}
	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]int
	}{
		{"first deploy creates the service", func(t *testing.T) { mustDeploy(t, e.svc, release("a1", stage.RouteAll)) },
			map[string]int{mGetService: 1, mUpdateService: 1}},
		{"dev deploy", func(t *testing.T) { mustDeploy(t, e.svc, release("b2", stage.RouteAll, "dev")) },
			map[string]int{mUpdateService: 1}},
		{"dev deploy from another process", func(t *testing.T) { mustDeploy(t, another(t), release("b3", stage.RouteAll, "dev")) },
			map[string]int{mGetService: 1, mUpdateService: 1}},
		{"dev deploy after another process wrote (stale cache)", func(t *testing.T) { mustDeploy(t, e.svc, release("b4", stage.RouteAll, "dev")) },
			// The cached service is older than the other process's write:
			// the optimistic write is refused on its etag (nothing is
			// written), then the service is read and the deploy redone.
			map[string]int{mGetService: 1, mUpdateService: 2}},
		{"re-run of the same deploy", func(t *testing.T) { mustDeploy(t, e.svc, release("b4", stage.RouteAll, "dev")) },
			// Nothing to write: the cached service is checked with one read.
			map[string]int{mGetService: 1, mGetRevision: 1}},
		{"prod deploy with no traffic", func(t *testing.T) { mustDeploy(t, e.svc, release("c3", stage.RouteNone, "candidate")) },
			map[string]int{mUpdateService: 1}},
		{"re-run of the no-traffic deploy", func(t *testing.T) { mustDeploy(t, e.svc, release("c3", stage.RouteNone, "candidate")) },
			map[string]int{mGetService: 1, mGetRevision: 1}},
		{"re-run of the no-traffic deploy from another process", func(t *testing.T) { mustDeploy(t, another(t), release("c3", stage.RouteNone, "candidate")) },
			map[string]int{mGetService: 1, mGetRevision: 1}},
		{"re-run of the no-traffic deploy after another process wrote", func(t *testing.T) {
			o := another(t)
			sp, err := o.Split(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sp.State = "another"
			if _, err := o.SetSplit(ctx, sp); err != nil {
				t.Fatal(err)
			}
			e.srv.ResetRequests()
			mustDeploy(t, e.svc, release("c3", stage.RouteNone, "candidate"))
			// The read that finds the cache stale is the one the adoption
			// is decided again from; the revision is read both times.
		}, map[string]int{mGetService: 1, mGetRevision: 2}},
		{"Split", func(t *testing.T) {
			if _, err := e.svc.Split(ctx); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{mGetService: 1}},
		{"Split then SetSplit", func(t *testing.T) {
			sp, err := e.svc.Split(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sp, err = traffic.Pin(sp, sp.LatestRevision)
			if err != nil {
				t.Fatal(err)
			}
			sp, err = traffic.Shift(sp, "api-b4", "api-c3", 5)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.SetSplit(ctx, sp); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{mGetService: 1, mUpdateService: 1}},
		{"SetSplit after SetSplit", func(t *testing.T) {
			sp, err := e.svc.Split(ctx)
			if err != nil {
				t.Fatal(err)
			}
			e.srv.ResetRequests()
			for _, p := range []int{25, 100} {
				sp, err = traffic.Route(sp, map[string]int{"api-b4": 100 - p, "api-c3": p})
				if err != nil {
					t.Fatal(err)
				}
				if sp, err = e.svc.SetSplit(ctx, sp); err != nil {
					t.Fatal(err)
				}
			}
		}, map[string]int{mUpdateService: 2}},
		{"release right after a Split", func(t *testing.T) {
			if _, err := e.svc.Split(ctx); err != nil {
				t.Fatal(err)
			}
			mustDeploy(t, e.svc, release("d4", stage.RouteNone, "next"))
		}, map[string]int{mGetService: 1, mUpdateService: 1}},
		{"RouteAll re-deploy of an older release unknown to the traffic", func(t *testing.T) { mustDeploy(t, e.svc, release("a1", stage.RouteAll)) },
			// Cloud Run adopts a1 without making it the latest: a second
			// write routes to it by name, and the response does not settle
			// its readiness, so it is read.
			map[string]int{mUpdateService: 2, mGetRevision: 1}},
		{"deploy of a revision that fails", func(t *testing.T) {
			e.srv.FailRevision("api-f6", "boom")
			if _, err := e.svc.Deploy(ctx, release("f6", stage.RouteNone, "next")); !errors.Is(err, twostage.ErrNotReady) {
				t.Fatalf("Deploy() error %v, want ErrNotReady", err)
			}
			// The failed revision's condition is read; the service is read
			// and, as Cloud Run keeps the failed write's spec, its template
			// and traffic are put back (restore).
		}, map[string]int{mGetService: 1, mUpdateService: 2, mGetRevision: 1}},
		{"Revisions", func(t *testing.T) {
			for _, err := range e.svc.Revisions(ctx) {
				if err != nil {
					t.Fatal(err)
				}
			}
		}, map[string]int{mListRevisions: 1, mGetService: 1}},
		{"Revision (stage.Getter)", func(t *testing.T) {
			if _, err := e.svc.Revision(ctx, "c3"); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{mGetRevision: 1}},
		{"Drift (stage.Drifter)", func(t *testing.T) {
			if _, err := e.svc.Drift(ctx, stage.Overrides{CPU: "1"}); err != nil {
				t.Fatal(err)
			}
		}, map[string]int{mGetService: 1}},
	}
	for _, st := range steps {
		e.srv.ResetRequests()
		st.do(t)
		if diff := cmp.Diff(st.want, e.counts(allMethods()...)); diff != "" {
			t.Errorf("%s: calls mismatch (-want +got):\n%s", st.name, diff)
		}
	}
}

func TestSetSplitWithUnknownVersionReadsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	mustDeploy(t, e.svc, release("b2", stage.RouteAll))
	// A second Service (another process) holds no cached state.
	other, err := cloudrun.New(t.Context(), svcName, cloudrun.WithClientOptions(e.srv.ClientOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	sp, err := e.svc.Split(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	sp.Targets = []traffic.Target{{Revision: "api-a1", Percent: 100}}
	if _, err := other.SetSplit(t.Context(), sp); err != nil {
		t.Fatalf("SetSplit() error: %v", err)
	}
	// api-a1 neither serves nor is the latest ready revision: one
	// GetRevision checks that it can serve before the write.
	if diff := cmp.Diff(map[string]int{mGetService: 1, mGetRevision: 1, mUpdateService: 1}, e.counts(allMethods()...)); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
	// Now e.svc's cached version is stale: the write goes out and the
	// emulator refuses it; a fresh reader refuses it without writing.
	e.srv.ResetRequests()
	sp.Targets = []traffic.Target{{Revision: "api-b2", Percent: 100}}
	if _, err := e.svc.SetSplit(t.Context(), sp); !errors.Is(err, twostage.ErrConflict) || status.Code(err) != codes.Aborted {
		t.Errorf("SetSplit() at a stale cached version: error %v (code %v), want ErrConflict keeping ABORTED", err, status.Code(err))
	}
	third, err := cloudrun.New(t.Context(), svcName, cloudrun.WithClientOptions(e.srv.ClientOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if _, err := third.SetSplit(t.Context(), sp); !errors.Is(err, twostage.ErrConflict) {
		t.Errorf("SetSplit() at a stale version through a fresh Service: error %v, want ErrConflict", err)
	}
	if diff := cmp.Diff(map[string]int{mGetService: 1, mUpdateService: 1}, e.counts(allMethods()...)); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
}

func TestSetSplitEmptyVersionIsUnconditional(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	mustDeploy(t, e.svc, release("b2", stage.RouteAll))
	got, err := e.svc.SetSplit(t.Context(), traffic.Split{Targets: []traffic.Target{{Revision: "api-a1", Percent: 100}}, State: "s"})
	if err != nil {
		t.Fatalf("SetSplit() without Version error: %v", err)
	}
	if got.Version == "" || got.State != "s" || traffic.Shares(got)["api-a1"] != 100 {
		t.Errorf("SetSplit() = %v, want api-a1 100%% with state s and a version", got)
	}
	svc, _ := e.srv.Service(svcName)
	if svc.GetAnnotations()[cloudrun.StateAnnotation] != "s" {
		t.Errorf("service annotations = %v, want %s=s", svc.GetAnnotations(), cloudrun.StateAnnotation)
	}
}

// TestDeployKeepsTheTemplate checks that a deploy changes only the image,
// the revision name and the labels of the current template.
func TestDeployKeepsTheTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tmpl := &runpb.RevisionTemplate{
		Labels:         map[string]string{"team": "core"},
		Annotations:    map[string]string{"example.com/owner": "core"},
		Scaling:        &runpb.RevisionScaling{MinInstanceCount: 1, MaxInstanceCount: 7},
		Timeout:        durationpb.New(42 * time.Second),
		ServiceAccount: "runner@proj.iam.gserviceaccount.com",
		Containers: []*runpb.Container{{
			Name:      "app",
			Image:     "europe-west1-docker.pkg.dev/proj/apps/api:old",
			Env:       []*runpb.EnvVar{{Name: "MODE", Values: &runpb.EnvVar_Value{Value: "prod"}}},
			Resources: &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "2", "memory": "1Gi"}},
		}},
		MaxInstanceRequestConcurrency: 20,
	}
	if err := e.srv.SetService(&runpb.Service{Name: svcName, Template: proto.Clone(tmpl).(*runpb.RevisionTemplate), Annotations: map[string]string{"example.com/keep": "yes"}}); err != nil {
		t.Fatalf("SetService: %v", err)
	}
	r := release("a1", stage.RouteAll)
	r.Labels = map[string]string{stage.LabelCommit: "abc"}
	mustDeploy(t, e.svc, r)
	var sent *runpb.Service
	for _, req := range e.srv.Requests() {
		if req.Method == mUpdateService {
			sent = req.Request.(*runpb.UpdateServiceRequest).GetService()
		}
	}
	if sent == nil {
		t.Fatal("no UpdateService request logged")
	}
	want := proto.Clone(tmpl).(*runpb.RevisionTemplate)
	want.Revision = "api-a1"
	want.Containers[0].Image = r.Artifact.String()
	want.Labels[stage.LabelCommit] = "abc"
	want.Labels[stage.LabelManagedBy] = cloudrun.ManagedByValue
	if diff := cmp.Diff(want, sent.GetTemplate(), protocmp.Transform()); diff != "" {
		t.Errorf("template sent mismatch (-want +got):\n%s", diff)
	}
	if sent.GetAnnotations()["example.com/keep"] != "yes" || sent.GetEtag() == "" {
		t.Errorf("service sent: annotations %v etag %q, want the service's annotations kept and its etag", sent.GetAnnotations(), sent.GetEtag())
	}
}

func TestDeployWithContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, cloudrun.WithContainer("app"), cloudrun.WithTemplate(&runpb.RevisionTemplate{
		Containers: []*runpb.Container{{Name: "sidecar", Image: "europe-west1-docker.pkg.dev/proj/apps/proxy:1"}, {Name: "app"}},
	}))
	r := release("a1", stage.RouteAll)
	rev := mustDeploy(t, e.svc, r)
	if rev.Artifact != r.Artifact {
		t.Errorf("Deploy().Artifact = %v, want %v (the named container's image)", rev.Artifact, r.Artifact)
	}
	svc, _ := e.srv.Service(svcName)
	if got := svc.GetTemplate().GetContainers()[0].GetImage(); got != "europe-west1-docker.pkg.dev/proj/apps/proxy:1" {
		t.Errorf("sidecar image = %q, want it untouched", got)
	}
	if _, err := cloudrun.New(t.Context(), svcName, cloudrun.WithTemplate(&runpb.RevisionTemplate{})); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("New(WithTemplate without containers) error %v, want ErrInvalid", err)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		srvOpts  []cloudrunfake.Option
		do       func(t *testing.T, e env) error
		sentinel error
		code     codes.Code
		not      error
	}{
		{
			name:     "split of a missing service",
			do:       func(t *testing.T, e env) error { _, err := e.svc.Split(t.Context()); return err },
			sentinel: twostage.ErrNotFound, code: codes.NotFound,
		},
		{
			name: "no-traffic deploy to a missing service",
			do: func(t *testing.T, e env) error {
				_, err := e.svc.Deploy(t.Context(), release("a1", stage.RouteNone))
				if err != nil && !strings.Contains(err.Error(), "the first deploy must route traffic") {
					t.Errorf("error %q does not explain that the first deploy must route traffic", err)
				}
				return err
			},
			sentinel: twostage.ErrInvalid, code: codes.NotFound,
		},
		{
			name:    "stale etag, FAILED_PRECONDITION",
			srvOpts: []cloudrunfake.Option{cloudrunfake.WithConflictCode(codes.FailedPrecondition)},
			do:      staleWrite, sentinel: twostage.ErrConflict, code: codes.FailedPrecondition,
		},
		{
			name:    "stale etag, ABORTED",
			srvOpts: []cloudrunfake.Option{cloudrunfake.WithConflictCode(codes.Aborted)},
			do:      staleWrite, sentinel: twostage.ErrConflict, code: codes.Aborted,
		},
		{
			name: "deploy losing every race",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				// Other writers keep changing the service between our read
				// and write.
				e.srv.InjectError(mUpdateService, status.Error(codes.Aborted, "etag mismatch"), 100)
				e.srv.ResetRequests()
				_, err := e.svc.Deploy(t.Context(), release("b2", stage.RouteAll))
				// The first write starts from the service cached by the
				// first deploy, then five attempts read and write.
				if diff := cmp.Diff(map[string]int{mGetService: 5, mUpdateService: 6}, e.counts(allMethods()...)); diff != "" {
					t.Errorf("calls mismatch (-want +got):\n%s", diff)
				}
				return err
			},
			sentinel: twostage.ErrConflict, code: codes.Aborted,
		},
		{
			name:    "revision that fails to start",
			srvOpts: []cloudrunfake.Option{cloudrunfake.WithFailingImage(stagetest.Artifact("b2").String(), "container failed to listen on PORT=8080")},
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				_, err := e.svc.Deploy(t.Context(), release("b2", stage.RouteAll))
				if err != nil && !strings.Contains(err.Error(), "PORT=8080") {
					t.Errorf("error %q does not carry the emulator's reason", err)
				}
				return err
			},
			sentinel: twostage.ErrNotReady, code: codes.FailedPrecondition, not: twostage.ErrConflict,
		},
		{
			name: "no-traffic revision that fails to start",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				e.srv.FailRevision("api-b2", "boom")
				_, err := e.svc.Deploy(t.Context(), release("b2", stage.RouteNone, "candidate"))
				return err
			},
			sentinel: twostage.ErrNotReady, code: codes.FailedPrecondition, not: twostage.ErrConflict,
		},
		{
			name: "reused name unknown to the service, other image",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				mustDeploy(t, e.svc, release("b2", stage.RouteAll))
				r := release("a1", stage.RouteAll)
				r.Artifact = stagetest.Artifact("other")
				_, err := e.svc.Deploy(t.Context(), r)
				if err != nil && !strings.Contains(err.Error(), "new revision suffix") {
					t.Errorf("error %q does not suggest a new suffix", err)
				}
				return err
			},
			sentinel: twostage.ErrConflict, code: codes.AlreadyExists,
		},
		{
			name: "reused name known to the service, other image",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				r := release("a1", stage.RouteAll)
				r.Artifact = stagetest.Artifact("other")
				e.srv.ResetRequests()
				_, err := e.svc.Deploy(t.Context(), r)
				if n := e.srv.Count(mUpdateService); n != 0 {
					t.Errorf("UpdateService called %d times, want 0 (refused before writing)", n)
				}
				if err != nil && !strings.Contains(err.Error(), stagetest.Artifact("a1").String()) {
					t.Errorf("error %q does not name the image the revision runs", err)
				}
				return err
			},
			sentinel: twostage.ErrConflict, code: codes.AlreadyExists,
		},
		{
			name: "target naming a missing revision",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				_, err := e.svc.SetSplit(t.Context(), traffic.Split{Targets: []traffic.Target{{Revision: "api-zz", Percent: 100}}})
				return err
			},
			sentinel: twostage.ErrInvalid,
		},
		{
			name: "split to a revision that failed after it was ready",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				mustDeploy(t, e.svc, release("b2", stage.RouteNone))
				e.srv.FailRevision("api-b2", "crashed")
				sp, err := e.svc.Split(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				sp.Targets = []traffic.Target{{Revision: "api-a1", Percent: 50}, {Revision: "api-b2", Percent: 50}}
				_, err = e.svc.SetSplit(t.Context(), sp)
				return err
			},
			sentinel: twostage.ErrInvalid, code: codes.FailedPrecondition, not: twostage.ErrConflict,
		},
		{
			name: "split to a revision that is not ready",
			do: func(t *testing.T, e env) error {
				mustDeploy(t, e.svc, release("a1", stage.RouteAll))
				e.srv.FailRevision("api-b2", "boom")
				if _, err := e.svc.Deploy(t.Context(), release("b2", stage.RouteNone)); !errors.Is(err, twostage.ErrNotReady) {
					t.Fatalf("Deploy() error %v, want ErrNotReady", err)
				}
				sp, err := e.svc.Split(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				e.srv.ResetRequests()
				sp.Targets = []traffic.Target{{Revision: "api-a1", Percent: 50}, {Revision: "api-b2", Percent: 50}}
				_, err = e.svc.SetSplit(t.Context(), sp)
				if n := e.srv.Count(mUpdateService); n != 0 {
					t.Errorf("UpdateService called %d times, want 0 (refused before writing)", n)
				}
				return err
			},
			sentinel: twostage.ErrNotReady, not: twostage.ErrConflict,
		},
		{
			name: "permission denied",
			do: func(t *testing.T, e env) error {
				e.srv.InjectError(mGetService, status.Error(codes.PermissionDenied, "run.services.get denied"), 1)
				_, err := e.svc.Split(t.Context())
				if n := e.srv.Count(mGetService); n != 1 {
					t.Errorf("GetService called %d times, want 1 (not retried)", n)
				}
				return err
			},
			code: codes.PermissionDenied,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, c.srvOpts)
			err := c.do(t, e)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("error %v does not wrap %v", err, c.sentinel)
			}
			if c.not != nil && errors.Is(err, c.not) {
				t.Errorf("error %v wraps %v, want it not to", err, c.not)
			}
			if c.code != codes.OK && status.Code(err) != c.code {
				t.Errorf("status.Code(%v) = %v, want %v (the API's error kept in the chain)", err, status.Code(err), c.code)
			}
		})
	}
}

// staleWrite writes a split at a version another writer has moved past.
func staleWrite(t *testing.T, e env) error {
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	mustDeploy(t, e.svc, release("b2", stage.RouteAll))
	sp, err := e.svc.Split(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	other, err := cloudrun.New(t.Context(), svcName, cloudrun.WithClientOptions(e.srv.ClientOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.SetSplit(t.Context(), traffic.Split{Targets: []traffic.Target{{Revision: "api-a1", Percent: 100}}, Version: sp.Version}); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	sp.Targets = []traffic.Target{{Revision: "api-b2", Percent: 100}}
	_, err = e.svc.SetSplit(t.Context(), sp)
	if n := e.srv.Count(mUpdateService); n != 1 {
		t.Errorf("UpdateService called %d times, want 1 (a conflict is never retried)", n)
	}
	return err
}

func TestRetriesTransientFailuresOnTheClock(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		method    string
		code      codes.Code
		times     int
		do        func(t *testing.T, e env) error
		wantCalls int
		wantErr   bool
	}{
		{"GetService unavailable twice", mGetService, codes.Unavailable, 2, split, 3, false},
		{"GetService deadline exceeded", mGetService, codes.DeadlineExceeded, 1, split, 2, false},
		{"UpdateService quota once", mUpdateService, codes.ResourceExhausted, 1, setSplit, 2, false},
		{"UpdateService quota always", mUpdateService, codes.ResourceExhausted, 100, setSplit, 5, true},
		{"GetRevision unavailable", mGetRevision, codes.Unavailable, 1, getA1, 2, false},
		{"ListRevisions unavailable", mListRevisions, codes.Unavailable, 2, list, 3, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			mustDeploy(t, e.svc, release("a1", stage.RouteAll))
			e.srv.ResetRequests()
			before := len(e.clock.Sleeps())
			e.srv.InjectError(c.method, status.Error(c.code, "injected"), c.times)
			err := c.do(t, e)
			if (err != nil) != c.wantErr {
				t.Fatalf("error %v, want error: %v", err, c.wantErr)
			}
			if c.wantErr && status.Code(err) != c.code {
				t.Errorf("status.Code(%v) = %v, want %v", err, status.Code(err), c.code)
			}
			if got := e.srv.Count(c.method); got != c.wantCalls {
				t.Errorf("%s called %d times, want %d", c.method, got, c.wantCalls)
			}
			sleeps := e.clock.Sleeps()[before:]
			want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}[:c.wantCalls-1]
			if diff := cmp.Diff(want, sleeps); diff != "" {
				t.Errorf("backoff sleeps on the injected clock mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func split(t *testing.T, e env) error { _, err := e.svc.Split(t.Context()); return err }

func setSplit(t *testing.T, e env) error {
	_, err := e.svc.SetSplit(t.Context(), traffic.Split{Targets: []traffic.Target{{Latest: true, Percent: 100}}})
	return err
}

func deployB(t *testing.T, e env) error {
	_, err := e.svc.Deploy(t.Context(), release("b2", stage.RouteAll))
	return err
}

func getA1(t *testing.T, e env) error {
	_, err := e.svc.Revision(t.Context(), "a1")
	return err
}

func list(t *testing.T, e env) error {
	for _, err := range e.svc.Revisions(t.Context()) {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestOperationPolling checks that a pending operation is polled on the
// injected clock and that an operation returned done is not polled at all.
func TestOperationPolling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, []cloudrunfake.Option{cloudrunfake.WithManualOperations()})
	polls := 0
	e.clock.OnSleep(func(time.Time) {
		if polls++; polls == 3 {
			e.srv.CompleteOperations()
		}
	})
	rev := mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	if !rev.Ready {
		t.Errorf("Deploy() = %+v, want ready", rev)
	}
	if got := e.srv.Count(mGetOperation); got != 3 {
		t.Errorf("GetOperation called %d times, want 3 (one after each sleep)", got)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}
	if diff := cmp.Diff(want, e.clock.Sleeps()); diff != "" {
		t.Errorf("poll sleeps mismatch (-want +got):\n%s", diff)
	}
}

func TestDeployCancelledWhileWaiting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, []cloudrunfake.Option{cloudrunfake.WithManualOperations()})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e.clock.OnSleep(func(time.Time) { cancel() })
	_, err := e.svc.Deploy(ctx, release("a1", stage.RouteAll))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Deploy() cancelled while waiting: error %v, want context.Canceled", err)
	}
	if got := e.srv.Count(mUpdateService); got != 1 {
		t.Errorf("UpdateService called %d times, want 1", got)
	}
	if got := e.srv.Count(mGetOperation); got != 0 {
		t.Errorf("GetOperation called %d times after cancellation, want 0", got)
	}
}

func TestLogsEveryWrite(t *testing.T) {
	t.Parallel()
	h := &recorder{}
	e := newEnv(t, nil, cloudrun.WithLogger(slog.New(h)))
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	mustDeploy(t, e.svc, release("b2", stage.RouteNone, "candidate"))
	mustDeploy(t, e.svc, release("b2", stage.RouteNone, "candidate")) // no write, no log
	sp, err := e.svc.Split(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sp.Targets = []traffic.Target{{Revision: "api-a1", Percent: 95}, {Revision: "api-b2", Percent: 5, Tag: "candidate"}}
	if _, err := e.svc.SetSplit(t.Context(), sp); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"INFO cloudrun: creating service service=api revision=api-a1 before= after=LATEST=100%",
		"INFO cloudrun: deploying revision service=api revision=api-b2 traffic=none before=LATEST=100% after=api-a1=100%,api-b2=0%[candidate]",
		"INFO cloudrun: setting traffic service=api before=api-a1=100%,api-b2=0%[candidate] after=api-a1=95%,api-b2=5%[candidate]",
	}
	if diff := cmp.Diff(want, h.lines()); diff != "" {
		t.Errorf("log mismatch (-want +got):\n%s", diff)
	}
}

// recorder is a slog.Handler that keeps "LEVEL msg k=v ..." lines, without
// the image and version attributes (they are long and random).
type recorder struct {
	mu  sync.Mutex // guards out
	out []string
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recorder) WithGroup(string) slog.Handler            { return h }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "image" && a.Key != "version" {
			line += " " + a.Key + "=" + a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	h.out = append(h.out, line)
	h.mu.Unlock()
	return nil
}

func (h *recorder) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.out...)
}

func TestRevisionsPaginatesAndSortsNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var want []string
	for i := range 105 {
		r := release(suffixOf(i), stage.RouteAll)
		want = append([]string{mustDeploy(t, e.svc, r).Name}, want...)
	}
	e.srv.ResetRequests()
	var got []string
	for r, err := range e.svc.Revisions(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Revisions() mismatch (-want +got):\n%s", diff)
	}
	if n := e.srv.Count(mListRevisions); n != 2 {
		t.Errorf("ListRevisions called %d times, want 2 pages of at most 100", n)
	}
}

func suffixOf(i int) string {
	return "r" + strings.Repeat("x", i/26) + string(rune('a'+i%26))
}

func TestDeployRedoesALostRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	mustDeploy(t, e.svc, release("b2", stage.RouteNone, "candidate"))
	// The first write finds the etag stale, as if another deploy had landed
	// in between (stagetest's ConcurrentDeploysAllLand races for real).
	e.srv.InjectError(mUpdateService, status.Error(codes.FailedPrecondition, "etag mismatch"), 1)
	e.srv.ResetRequests()
	c := mustDeploy(t, e.svc, release("c3", stage.RouteNone, "next"))
	// From the cached service: the refused write, then a read and the
	// write again; the response settles the revision.
	if diff := cmp.Diff(map[string]int{mGetService: 1, mUpdateService: 2}, e.counts(allMethods()...)); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
	sp, err := e.svc.Split(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := traffic.Split{Targets: []traffic.Target{{Revision: "api-a1", Percent: 100}, {Revision: "api-b2", Tag: "candidate"}, {Revision: c.Name, Tag: "next"}}}
	if !traffic.Equal(want, sp) {
		t.Errorf("Split() = %v, want %v", sp, want)
	}
}

func TestRevisionsCreatedAtTheSameTimeKeepTheAPIOrder(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	e := newEnv(t, []cloudrunfake.Option{cloudrunfake.WithClock(fake.NewClock(at))})
	var want []string
	for _, s := range []string{"c1", "b2", "a3"} {
		want = append([]string{mustDeploy(t, e.svc, release(s, stage.RouteAll)).Name}, want...)
	}
	var got []string
	for r, err := range e.svc.Revisions(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if !r.Created.Equal(at) {
			t.Errorf("revision %s created %v, want %v", r.Name, r.Created, at)
		}
		got = append(got, r.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Revisions() mismatch (-want +got):\n%s", diff)
	}
}
