package fake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

func i32(v int32) *int32 { return &v }

// seeded is a template as Terraform might have left it.
func seeded() stage.Overrides {
	return stage.Overrides{
		Env:            map[string]string{"DB_HOST": "10.0.0.5", "LOG_LEVEL": "info"},
		Secrets:        map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "7"}},
		ServiceAccount: "api-runtime@proj.iam.gserviceaccount.com",
		CPU:            "2",
		Memory:         "2Gi",
		MinInstances:   i32(1),
		MaxInstances:   i32(20),
		Concurrency:    i32(40),
		Labels:         map[string]string{"team": "payments"},
	}
}

func TestServiceTemplatePreservation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api", WithTemplate(seeded()))
	dev := stage.Release{Artifact: art("a"), Revision: "a", Traffic: stage.RouteAll, Labels: map[string]string{stage.LabelCommit: "aaaaaaa"}}
	mustDeploy(t, s, dev)
	// Zero overrides: the template is inherited as it is, plus the
	// release's labels.
	want := seeded()
	want.Labels[stage.LabelCommit] = "aaaaaaa"
	if diff := cmp.Diff(want, s.LiveSettings()); diff != "" {
		t.Errorf("after a dev deploy, LiveSettings mismatch (-want +got):\n%s", diff)
	}
	// Undeclared scalars are not drift; the live-only env vars and the team
	// label are.
	d, err := s.Drift(ctx, stage.Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	wantD := stage.Drift{
		{Field: "env.DB_HOST", Live: "10.0.0.5"},
		{Field: "env.DB_PASSWORD", Live: "secret:db-password:7"},
		{Field: "env.LOG_LEVEL", Live: "info"},
		{Field: "label.team", Live: "payments"},
	}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("Drift(zero) mismatch (-want +got):\n%s", diff)
	}

	// A prod release with overrides: applied on top, the rest kept; the
	// previous release's commit label is dropped.
	prod := stage.Overrides{
		Env:          map[string]string{"LOG_LEVEL": "warn"},
		RemoveEnv:    []string{"DB_HOST"},
		Secrets:      map[string]stage.SecretRef{"API_KEY": {Secret: "api-key", Version: "latest"}},
		MaxInstances: i32(50),
		Labels:       map[string]string{"env": "prod"},
	}
	r := stage.Release{Artifact: art("b"), Revision: "b", Traffic: stage.RouteNone, Overrides: prod, Labels: map[string]string{stage.LabelRef: "v1"}}
	rev := mustDeploy(t, s, r)
	want = seeded()
	delete(want.Env, "DB_HOST")
	want.Env["LOG_LEVEL"] = "warn"
	want.Secrets["API_KEY"] = stage.SecretRef{Secret: "api-key", Version: "latest"}
	want.MaxInstances = i32(50)
	want.Labels = map[string]string{"team": "payments", "env": "prod", stage.LabelRef: "v1", stage.LabelConfig: prod.Fingerprint()}
	if diff := cmp.Diff(want, s.LiveSettings()); diff != "" {
		t.Errorf("after a release, LiveSettings mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Labels, rev.Labels); diff != "" {
		t.Errorf("release revision labels mismatch (-want +got):\n%s", diff)
	}
	d, err = s.Drift(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	wantD = stage.Drift{{Field: "env.DB_PASSWORD", Live: "secret:db-password:7"}, {Field: "label.team", Live: "payments"}}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("Drift(prod) after the release mismatch (-want +got):\n%s", diff)
	}

	// Someone edits the template in the console: drift shows it.
	edited := s.LiveSettings()
	edited.MaxInstances = i32(5)
	edited.Env["LOG_LEVEL"] = "debug"
	s.SetLiveSettings(edited)
	d, err = s.Drift(ctx, prod)
	if err != nil {
		t.Fatal(err)
	}
	wantD = stage.Drift{
		{Field: "env.DB_PASSWORD", Live: "secret:db-password:7"},
		{Field: "env.LOG_LEVEL", Live: "debug", Declared: "warn"},
		{Field: "label.team", Live: "payments"},
		{Field: "maxInstances", Live: "5", Declared: "50"},
	}
	if diff := cmp.Diff(wantD, d); diff != "" {
		t.Errorf("Drift(prod) after an edit mismatch (-want +got):\n%s", diff)
	}
}

func TestServiceOverridesIdentity(t *testing.T) {
	t.Parallel()
	o := stage.Overrides{Env: map[string]string{"MODE": "prod"}, CPU: "1", Memory: "1Gi"}
	tests := []struct {
		name    string
		second  stage.Overrides
		wantErr error
	}{
		{"same overrides adopt", o, nil},
		{"same overrides, other map instance", stage.Overrides{Env: map[string]string{"MODE": "prod"}, CPU: "1", Memory: "1Gi"}, nil},
		{"other env value", stage.Overrides{Env: map[string]string{"MODE": "dev"}, CPU: "1", Memory: "1Gi"}, twostage.ErrConflict},
		{"no overrides", stage.Overrides{}, twostage.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewService("api", WithDeployed(rel("a", stage.RouteAll)))
			first := stage.Release{Artifact: art("b"), Revision: "b", Traffic: stage.RouteNone, Overrides: o}
			rev1 := mustDeploy(t, s, first)
			gen := s.Snapshot().Generation
			second := first
			second.Overrides = tt.second
			rev2, err := s.Deploy(context.Background(), second)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("second Deploy() = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "overrides have fingerprint") {
					t.Errorf("error %q does not name the overrides", err)
				}
				return
			}
			if diff := cmp.Diff(rev1, rev2); diff != "" {
				t.Errorf("adopted revision mismatch (-want +got):\n%s", diff)
			}
			if g := s.Snapshot().Generation; g != gen {
				t.Errorf("adoption changed the generation %d → %d", gen, g)
			}
		})
	}
}

func TestServiceOverridesInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tmpl stage.Overrides
		o    stage.Overrides
		want string
	}{
		{"reserved env", stage.Overrides{}, stage.Overrides{Env: map[string]string{"PORT": "1"}}, `"PORT"`},
		{"memory above the live CPU", stage.Overrides{CPU: "1"}, stage.Overrides{Memory: "8Gi"}, "CPU live, memory declared"},
		{"min above live max", stage.Overrides{MaxInstances: i32(3)}, stage.Overrides{MinInstances: i32(4)}, "MinInstances 4 (declared) is above MaxInstances 3 (live)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := NewService("api", WithTemplate(tt.tmpl), WithDeployed(rel("a", stage.RouteAll)))
			before := s.Snapshot()
			_, err := s.Deploy(context.Background(), stage.Release{Artifact: art("b"), Revision: "b", Traffic: stage.RouteAll, Overrides: tt.o})
			if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Deploy() = %v, want ErrInvalid containing %q", err, tt.want)
			}
			if diff := cmp.Diff(before, s.Snapshot()); diff != "" {
				t.Errorf("a refused deploy changed the service (-before +after):\n%s", diff)
			}
		})
	}
}

func TestServiceNotReadyKeepsTemplate(t *testing.T) {
	t.Parallel()
	s := NewService("api", WithTemplate(seeded()), WithDeployed(rel("a", stage.RouteAll)))
	before := s.LiveSettings()
	s.FailRevision("b", "container failed to start")
	_, err := s.Deploy(context.Background(), stage.Release{Artifact: art("b"), Revision: "b", Traffic: stage.RouteAll, Overrides: stage.Overrides{CPU: "4"}})
	if !errors.Is(err, twostage.ErrNotReady) {
		t.Fatalf("Deploy() = %v, want ErrNotReady", err)
	}
	if diff := cmp.Diff(before, s.LiveSettings()); diff != "" {
		t.Errorf("a failed deploy changed the template (-before +after):\n%s", diff)
	}
}

func TestServiceRevisionGetter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api", WithURL("https://api-x.a.run.app"), WithDeployed(rel("a", stage.RouteAll), rel("b", stage.RouteNone, "candidate")))
	for _, name := range []string{"b", "api-b"} {
		got, err := s.Revision(ctx, name)
		if err != nil {
			t.Fatalf("Revision(%q) = %v", name, err)
		}
		want := s.Snapshot().Revisions[0]
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Revision(%q) mismatch (-want +got):\n%s", name, diff)
		}
	}
	if _, err := s.Revision(ctx, "nope"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Revision(nope) = %v, want ErrNotFound", err)
	}
	calls := s.Calls()
	if got := calls[len(calls)-1]; got.Method != "Revision" || got.Arg != "api-nope" || !errors.Is(got.Err, twostage.ErrNotFound) {
		t.Errorf("last call = %+v, want Revision api-nope ErrNotFound", got)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Revision(canceled, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Revision(canceled) = %v, want context.Canceled", err)
	}
}

func TestServiceDriftErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewService("api")
	if _, err := s.Drift(ctx, stage.Overrides{}); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Drift on a missing service = %v, want ErrNotFound", err)
	}
	mustDeploy(t, s, rel("a", stage.RouteAll))
	if _, err := s.Drift(ctx, stage.Overrides{CPU: "3"}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Drift(invalid) = %v, want ErrInvalid", err)
	}
	d, err := s.Drift(ctx, stage.Overrides{})
	if err != nil || len(d) != 0 {
		t.Errorf("Drift on a plain service = %v, %v; want no drift", d, err)
	}
}

func TestWithTemplateIsACopy(t *testing.T) {
	t.Parallel()
	o := seeded()
	s := NewService("api", WithTemplate(o))
	o.Env["DB_HOST"] = "changed"
	got := s.LiveSettings()
	got.Env["LOG_LEVEL"] = "changed"
	if diff := cmp.Diff(seeded(), s.LiveSettings()); diff != "" {
		t.Errorf("LiveSettings shares memory with its callers (-want +got):\n%s", diff)
	}
}

// A fake service seeded with a template as Terraform left it: a release
// with overrides inherits the rest, and Drift shows what the overrides do
// not declare.
func ExampleWithTemplate() {
	ctx := context.Background()
	svc := NewService("api-prod", WithTemplate(stage.Overrides{
		Env:    map[string]string{"DB_HOST": "10.0.0.5", "MODE": "staging"},
		Labels: map[string]string{"team": "payments"},
	}))
	prod := stage.Overrides{Env: map[string]string{"MODE": "prod"}}
	_, err := svc.Deploy(ctx, stage.Release{Artifact: art("a"), Revision: "v1-0-0-abcdef1", Traffic: stage.RouteAll, Overrides: prod})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svc.LiveSettings().Env)
	drift, err := svc.Drift(ctx, prod)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(drift)
	// Output:
	// map[DB_HOST:10.0.0.5 MODE:prod]
	// env.DB_HOST: live 10.0.0.5, declared (unset)
	// label.team: live payments, declared (unset)
}
