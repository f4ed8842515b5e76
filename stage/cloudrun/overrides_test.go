package cloudrun_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/run/apiv2/runpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
	"github.com/twostage/twostage/stage/cloudrun"
	"github.com/twostage/twostage/traffic"
)

func i32(v int32) *int32 { return &v }

// TestOverridesOntoADefaultTemplate: on a template with no settings, the
// overrides create what they need; resources get cpu_idle true, the API's
// default when resources are unset.
func TestOverridesOntoADefaultTemplate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := release("a1", stage.RouteAll)
	r.Overrides = stage.Overrides{
		Env:            map[string]string{"B": "2", "A": "1"},
		Secrets:        map[string]stage.SecretRef{"C": {Secret: "c", Version: "1"}},
		ServiceAccount: "run@proj.iam.gserviceaccount.com",
		CPU:            "0.5",
		Memory:         "512Mi",
		MinInstances:   i32(0),
		MaxInstances:   i32(3),
		Concurrency:    i32(1),
	}
	mustDeploy(t, e.svc, r)
	svc, _ := e.srv.Service(svcName)
	want := &runpb.RevisionTemplate{
		Revision:                      "api-a1",
		Labels:                        map[string]string{stage.LabelManagedBy: cloudrun.ManagedByValue, stage.LabelConfig: r.Overrides.Fingerprint()},
		Scaling:                       &runpb.RevisionScaling{MinInstanceCount: 0, MaxInstanceCount: 3},
		ServiceAccount:                "run@proj.iam.gserviceaccount.com",
		MaxInstanceRequestConcurrency: 1,
		Timeout:                       durationpb.New(300 * time.Second), // the server's default
		Containers: []*runpb.Container{{
			Image: r.Artifact.String(),
			Env: []*runpb.EnvVar{
				{Name: "A", Values: &runpb.EnvVar_Value{Value: "1"}},
				{Name: "B", Values: &runpb.EnvVar_Value{Value: "2"}},
				{Name: "C", Values: &runpb.EnvVar_ValueSource{ValueSource: &runpb.EnvVarSource{SecretKeyRef: &runpb.SecretKeySelector{Secret: "c", Version: "1"}}}},
			},
			Resources: &runpb.ResourceRequirements{Limits: map[string]string{"cpu": "0.5", "memory": "512Mi"}, CpuIdle: true},
		}},
	}
	if diff := cmp.Diff(want, svc.GetTemplate(), protocmp.Transform()); diff != "" {
		t.Errorf("template mismatch (-want +got):\n%s", diff)
	}
}

// TestInvalidOverridesMakeNoCall: Validate runs before any API call; a pair
// that only the live template makes invalid is refused before any write.
func TestInvalidOverridesMakeNoCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mustDeploy(t, e.svc, release("a1", stage.RouteAll))
	e.srv.ResetRequests()
	r := release("b2", stage.RouteAll)
	r.Overrides = stage.Overrides{Env: map[string]string{"K_SERVICE": "x"}}
	if _, err := e.svc.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), `"K_SERVICE"`) {
		t.Errorf("Deploy() error %v, want ErrInvalid naming K_SERVICE", err)
	}
	if n := len(e.srv.Requests()); n != 0 {
		t.Errorf("%d requests for invalid overrides, want none", n)
	}
	r.Overrides = stage.Overrides{Memory: "8Gi"} // the template's CPU is the default, 1
	if _, err := e.svc.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), "CPU live, memory declared") {
		t.Errorf("Deploy() error %v, want ErrInvalid about the live CPU", err)
	}
	if n := e.srv.Count(mUpdateService); n != 0 {
		t.Errorf("%d UpdateService for overrides the live template cannot take, want none", n)
	}
}

// TestSameIdentityAdoptedAfterTheTemplateChanged: a revision the service no
// longer mentions, re-deployed with the same image, labels and overrides
// after the live template changed elsewhere, is adopted (Cloud Run answers
// ALREADY_EXISTS for the now different template); with other overrides it
// is a conflict that names them.
func TestSameIdentityAdoptedAfterTheTemplateChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	o := stage.Overrides{Env: map[string]string{"MODE": "prod"}}
	a := release("a1", stage.RouteAll)
	a.Overrides = o
	mustDeploy(t, e.svc, a)
	mustDeploy(t, e.svc, release("b2", stage.RouteAll))
	// Someone edits the template in the console (no new revision here).
	svc, _ := e.srv.Service(svcName)
	edited := proto.Clone(svc).(*runpb.Service)
	edited.Template.Containers[0].Env = append(edited.Template.Containers[0].Env, &runpb.EnvVar{Name: "EXTRA", Values: &runpb.EnvVar_Value{Value: "1"}})
	edited.Template.Revision = "api-b3"
	if err := e.srv.SetService(edited); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	a.Overrides = stage.Overrides{Env: map[string]string{"MODE": "prod"}}
	rev := mustDeploy(t, e.svc, a)
	if rev.Name != "api-a1" || !rev.Ready {
		t.Errorf("Deploy() = %+v, want api-a1 adopted", rev)
	}
	sp, err := e.svc.Split(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := traffic.Shares(sp)["api-a1"]; got != 100 {
		t.Errorf("api-a1 serves %d%%, want 100", got)
	}
	if n := len(e.srv.Revisions(svcName)); n != 3 {
		t.Errorf("%d revisions, want 3 (a1, b2, b3): none created", n)
	}
	a.Overrides = stage.Overrides{Env: map[string]string{"MODE": "dev"}}
	_, err = e.svc.Deploy(t.Context(), a)
	if !errors.Is(err, twostage.ErrConflict) || status.Code(err) != codes.AlreadyExists || !strings.Contains(err.Error(), "overrides") {
		t.Errorf("Deploy() with other overrides: error %v (code %v), want ErrConflict with ALREADY_EXISTS naming the overrides", err, status.Code(err))
	}
}

// TestDriftOnTheEmulator: Drift reads the live template, including what
// was set outside this package.
func TestDriftOnTheEmulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, cloudrun.WithContainer("app"))
	if err := e.srv.SetService(richService()); err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	declared := stage.Overrides{
		Env:          map[string]string{"LOG_LEVEL": "info", "NEW": "x"},
		Secrets:      map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "8"}},
		CPU:          "2",
		MaxInstances: i32(10),
		Concurrency:  i32(40),
		Labels:       map[string]string{"team": "payments"},
	}
	got, err := e.svc.Drift(t.Context(), declared)
	if err != nil {
		t.Fatal(err)
	}
	want := stage.Drift{
		{Field: "env.DB_HOST", Live: "10.0.0.5"},
		{Field: "env.DB_PASSWORD", Live: "secret:db-password:7", Declared: "secret:db-password:8"},
		{Field: "env.NEW", Declared: "x"},
		{Field: "label.cost-center", Live: "cc-42"},
		{Field: "maxInstances", Live: "30", Declared: "10"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Drift() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{mGetService: 1}, e.counts(allMethods()...)); diff != "" {
		t.Errorf("calls mismatch (-want +got):\n%s", diff)
	}
	if _, err := e.svc.Drift(t.Context(), stage.Overrides{RemoveEnv: []string{"PORT"}}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Drift(invalid) = %v, want ErrInvalid", err)
	}
}

// TestRevisionURLsFromTheLastRead: Revision costs one GetRevision; the
// service URLs come from the service as last read.
func TestRevisionURLsFromTheLastRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	mustDeploy(t, e.svc, release("a1", stage.RouteAll, "dev"))
	fresh, err := cloudrun.New(t.Context(), svcName, cloudrun.WithClientOptions(e.srv.ClientOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	got, err := fresh.Revision(t.Context(), "a1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "api-a1" || got.URL != "" || len(got.TagURLs) != 0 || !got.Ready {
		t.Errorf("Revision() before any read = %+v, want api-a1 ready without URLs", got)
	}
	if _, err := fresh.Split(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, err = fresh.Revision(t.Context(), "api-a1")
	if err != nil {
		t.Fatal(err)
	}
	if got.URL == "" || got.TagURLs["dev"] == "" {
		t.Errorf("Revision() after Split = %+v, want the service and dev tag URLs", got)
	}
	if _, err := fresh.Revision(t.Context(), ""); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Revision(\"\") = %v, want ErrInvalid", err)
	}
	if _, err := fresh.Revision(t.Context(), "Bad_Name"); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Revision(Bad_Name) = %v, want ErrInvalid", err)
	}
}
