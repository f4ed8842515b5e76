package stagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

func i32(v int32) *int32 { return &v }

// prodOverrides returns per-stage settings that Cloud Run accepts on a
// template with its defaults (1 CPU): a fresh value each call, so that
// identity does not depend on sharing maps.
func prodOverrides() stage.Overrides {
	return stage.Overrides{
		Env:               map[string]string{"MODE": "prod", "LOG_LEVEL": "warn"},
		Secrets:           map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "3"}},
		ServiceAccount:    "api-runtime@proj.iam.gserviceaccount.com",
		CPU:               "2",
		Memory:            "2Gi",
		MinInstances:      i32(1),
		MaxInstances:      i32(20),
		Concurrency:       i32(50),
		Port:              i32(9000),
		Timeout:           2 * time.Minute,
		VPCConnector:      "projects/my-project/locations/us-central1/connectors/run-egress",
		VPCEgress:         stage.EgressAllTraffic,
		CloudSQLInstances: []string{"my-project:us-central1:orders", "my-project:us-central1:users"},
		Labels:            map[string]string{"tier": "gold"},
	}
}

func testOverridesAdopt(t *testing.T, h Harness) {
	st := h.Stage
	mustDeploy(t, st, release("a1", stage.RouteAll))
	r := release("b2", stage.RouteNone, "candidate")
	r.Overrides = prodOverrides()
	first := mustDeploy(t, st, r)
	if got, want := first.Labels[stage.LabelConfig], r.Overrides.Fingerprint(); got != want {
		t.Errorf("Deploy() label %s = %q, want the overrides' fingerprint %q", stage.LabelConfig, got, want)
	}
	if got := first.Labels["tier"]; got != "gold" {
		t.Errorf("Deploy() label tier = %q, want the overrides' label gold", got)
	}
	before := mustSplit(t, st)
	r.Overrides = prodOverrides() // equal settings, other maps
	again := mustDeploy(t, st, r)
	if again.Name != first.Name {
		t.Errorf("re-deploy with the same overrides = %q, want %q adopted", again.Name, first.Name)
	}
	if n := len(revisions(t, st)); n != 2 {
		t.Errorf("Revisions() has %d revisions after re-deploying with the same overrides, want 2", n)
	}
	if diff := cmp.Diff(serving(before), serving(mustSplit(t, st))); diff != "" {
		t.Errorf("re-deploy with the same overrides changed who serves (-before +after):\n%s", diff)
	}
}

func testOverridesConflict(t *testing.T, h Harness) {
	st := h.Stage
	mustDeploy(t, st, release("a1", stage.RouteAll))
	r := release("b2", stage.RouteNone)
	r.Overrides = prodOverrides()
	mustDeploy(t, st, r)
	before := mustSplit(t, st)
	edits := []struct {
		name string
		edit func(o *stage.Overrides)
	}{
		{"other env value", func(o *stage.Overrides) { o.Env["MODE"] = "canary" }},
		{"other secret version", func(o *stage.Overrides) {
			o.Secrets["DB_PASSWORD"] = stage.SecretRef{Secret: "db-password", Version: "4"}
		}},
		{"other memory", func(o *stage.Overrides) { o.Memory = "4Gi" }},
		{"no max instances", func(o *stage.Overrides) { o.MaxInstances = nil }},
		{"other port", func(o *stage.Overrides) { o.Port = i32(8081) }},
		{"other timeout", func(o *stage.Overrides) { o.Timeout = time.Hour }},
		{"other egress", func(o *stage.Overrides) { o.VPCEgress = stage.EgressPrivateRanges }},
		{"other Cloud SQL instances", func(o *stage.Overrides) { o.CloudSQLInstances = o.CloudSQLInstances[:1] }},
		{"no overrides", func(o *stage.Overrides) { *o = stage.Overrides{} }},
	}
	for _, e := range edits {
		c := r
		c.Overrides = prodOverrides()
		e.edit(&c.Overrides)
		if _, err := st.Deploy(t.Context(), c); !errors.Is(err, twostage.ErrConflict) {
			t.Errorf("Deploy() of revision b2 again with %s: error %v, want one wrapping twostage.ErrConflict", e.name, err)
		}
	}
	// Under an attempt suffix the other settings deploy.
	c := r
	c.Revision = stage.AttemptSuffix("b2", 2)
	c.Overrides.Memory = "4Gi"
	rev := mustDeploy(t, st, c)
	if want := name(t, st, "b2-2"); rev.Name != want {
		t.Errorf("Deploy() with an attempt suffix = %q, want %q", rev.Name, want)
	}
	if diff := cmp.Diff(serving(before), serving(mustSplit(t, st))); diff != "" {
		t.Errorf("refused and no-traffic deploys changed who serves (-before +after):\n%s", diff)
	}
}

func testOverridesInvalid(t *testing.T, h Harness) {
	st := h.Stage
	mustDeploy(t, st, release("a1", stage.RouteAll))
	before := mustSplit(t, st)
	cases := []struct {
		name string
		o    stage.Overrides
	}{
		{"reserved env var", stage.Overrides{Env: map[string]string{"PORT": "9090"}}},
		{"secret without version", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "k"}}}},
		{"CPU Cloud Run does not offer", stage.Overrides{CPU: "3"}},
		{"memory too large for the CPU", stage.Overrides{CPU: "1", Memory: "8Gi"}},
		{"memory too large for the default CPU", stage.Overrides{Memory: "16Gi"}},
		{"min above max", stage.Overrides{MinInstances: i32(5), MaxInstances: i32(2)}},
		{"own label", stage.Overrides{Labels: map[string]string{stage.LabelCommit: "x"}}},
		{"port out of range", stage.Overrides{Port: i32(70000)}},
		{"timeout above an hour", stage.Overrides{Timeout: 2 * time.Hour}},
		{"timeout with a fraction of a second", stage.Overrides{Timeout: 1500 * time.Millisecond}},
		{"connector without its path", stage.Overrides{VPCConnector: "run-egress"}},
		{"egress gcloud does not know", stage.Overrides{VPCEgress: "all"}},
		{"Cloud SQL instance without region", stage.Overrides{CloudSQLInstances: []string{"my-project:orders"}}},
	}
	for _, c := range cases {
		r := release("b2", stage.RouteAll)
		r.Overrides = c.o
		if _, err := st.Deploy(t.Context(), r); !errors.Is(err, twostage.ErrInvalid) {
			t.Errorf("Deploy() with %s: error %v, want one wrapping twostage.ErrInvalid", c.name, err)
		}
	}
	after := mustSplit(t, st)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("invalid overrides changed the split (-before +after):\n%s", diff)
	}
	if n := len(revisions(t, st)); n != 1 {
		t.Errorf("Revisions() has %d revisions after invalid deploys, want 1", n)
	}
}

func testGetter(t *testing.T, h Harness) {
	g, ok := h.Stage.(stage.Getter)
	if !ok {
		t.Skip("the backend does not implement stage.Getter")
	}
	st := h.Stage
	if _, err := g.Revision(t.Context(), "a1"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Revision(a1) before any deploy: error %v, want one wrapping twostage.ErrNotFound", err)
	}
	mustDeploy(t, st, release("a1", stage.RouteAll))
	r := release("b2", stage.RouteNone, "candidate")
	r.Labels = map[string]string{stage.LabelCommit: "0123456789abcdef0123456789abcdef01234567"}
	deployed := mustDeploy(t, st, r)
	var listed stage.Revision
	for _, rev := range revisions(t, st) {
		if rev.Name == deployed.Name {
			listed = rev
		}
	}
	for _, n := range []string{"b2", deployed.Name} {
		got, err := g.Revision(t.Context(), n)
		if err != nil {
			t.Fatalf("Revision(%q) error: %v", n, err)
		}
		if diff := cmp.Diff(listed, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Revision(%q) and Revisions() disagree (-listed +got):\n%s", n, diff)
		}
		// What Deploy returned is what is read back (Created aside: a
		// backend may take it from the write that created the revision).
		if diff := cmp.Diff(deployed, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(stage.Revision{}, "Created")); diff != "" {
			t.Errorf("Revision(%q) and Deploy() disagree (-deployed +got):\n%s", n, diff)
		}
	}
	if _, err := g.Revision(t.Context(), "zz9"); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Revision(zz9): error %v, want one wrapping twostage.ErrNotFound", err)
	}
}

func testDrift(t *testing.T, h Harness) {
	d, ok := h.Stage.(stage.Drifter)
	if !ok {
		t.Skip("the backend does not implement stage.Drifter")
	}
	st := h.Stage
	if _, err := d.Drift(t.Context(), stage.Overrides{}); !errors.Is(err, twostage.ErrNotFound) {
		t.Errorf("Drift() of a missing service: error %v, want one wrapping twostage.ErrNotFound", err)
	}
	r := release("a1", stage.RouteAll)
	r.Overrides = prodOverrides()
	mustDeploy(t, st, r)
	got, err := d.Drift(t.Context(), prodOverrides())
	if err != nil {
		t.Fatalf("Drift() error: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Drift() right after deploying the same overrides = %v, want none", got)
	}
	declared := prodOverrides()
	declared.Env["MODE"] = "canary"
	delete(declared.Env, "LOG_LEVEL")
	declared.Memory = "4Gi"
	declared.Port = i32(8080)
	declared.CloudSQLInstances = []string{"my-project:us-central1:users", "my-project:europe-west1:orders"}
	got, err = d.Drift(t.Context(), declared)
	if err != nil {
		t.Fatalf("Drift() error: %v", err)
	}
	want := stage.Drift{
		{Field: "cloudSQLInstances", Live: "my-project:us-central1:orders,my-project:us-central1:users", Declared: "my-project:europe-west1:orders,my-project:us-central1:users"},
		{Field: "env.LOG_LEVEL", Live: "warn", Declared: ""},
		{Field: "env.MODE", Live: "prod", Declared: "canary"},
		{Field: "memory", Live: "2Gi", Declared: "4Gi"},
		{Field: "port", Live: "9000", Declared: "8080"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Drift() mismatch (-want +got):\n%s", diff)
	}
	if _, err := d.Drift(t.Context(), stage.Overrides{CPU: "3"}); !errors.Is(err, twostage.ErrInvalid) {
		t.Errorf("Drift() of invalid overrides: error %v, want one wrapping twostage.ErrInvalid", err)
	}
}

// testDeleter: a revision that serves nothing, holds no tag and is not the
// latest is deleted and no longer listed; a serving, tagged or latest one
// is refused with ErrConflict and stays; a missing one is ErrNotFound.
func testDeleter(t *testing.T, h Harness) {
	d, ok := h.Stage.(stage.Deleter)
	if !ok {
		t.Skip("the backend does not implement stage.Deleter")
	}
	st := h.Stage
	mustDeploy(t, st, release("a1", stage.RouteAll))
	mustDeploy(t, st, release("b2", stage.RouteAll))
	mustDeploy(t, st, release("c3", stage.RouteNone, "candidate"))
	mustDeploy(t, st, release("d4", stage.RouteNone))
	before := mustSplit(t, st)
	for _, tc := range []struct {
		rev  string
		want error
	}{
		{"b2", twostage.ErrConflict}, // serves 100%
		{"c3", twostage.ErrConflict}, // holds the candidate tag
		{"d4", twostage.ErrConflict}, // the latest revision
		{name(t, st, "a1"), nil},     // the full name works like the suffix
		{"a1", twostage.ErrNotFound}, // gone
		{"zz9", twostage.ErrNotFound},
	} {
		if err := d.DeleteRevision(t.Context(), tc.rev); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("DeleteRevision(%s) error %v, want %v", tc.rev, err, tc.want)
		}
	}
	var got []string
	for _, rev := range revisions(t, st) {
		got = append(got, rev.Name)
	}
	want := []string{name(t, st, "d4"), name(t, st, "c3"), name(t, st, "b2")}
	if !cmp.Equal(got, want) {
		t.Errorf("revisions after the deletes = %q, want %q", got, want)
	}
	if after := mustSplit(t, st); !cmp.Equal(serving(after), serving(before)) || !cmp.Equal(tags(after), tags(before)) {
		t.Errorf("the deletes moved traffic or tags: %v → %v", before, after)
	}
}
