package stage_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/stage"
)

func i32(v int32) *int32 { return &v }

// richOverrides sets every field.
func richOverrides() stage.Overrides {
	return stage.Overrides{
		Env:            map[string]string{"LOG_LEVEL": "debug", "EMPTY": ""},
		RemoveEnv:      []string{"OLD_FLAG"},
		Secrets:        map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "3"}, "API_KEY": {Secret: "projects/other-proj/secrets/api-key", Version: "latest"}},
		ServiceAccount: "api@my-project.iam.gserviceaccount.com",
		CPU:            "2",
		Memory:         "1Gi",
		MinInstances:   i32(1),
		MaxInstances:   i32(10),
		Concurrency:    i32(80),
		Labels:         map[string]string{"team": "payments"},
	}
}

func TestOverridesValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    stage.Overrides
		want string // substring of the error; "" means valid
	}{
		{"zero", stage.Overrides{}, ""},
		{"rich", richOverrides(), ""},
		{"fraction cpu", stage.Overrides{CPU: "0.5", Memory: "1Gi", Concurrency: i32(1)}, ""},
		{"millicores", stage.Overrides{CPU: "250m", Memory: "512Mi"}, ""},
		{"8 cpu 32Gi", stage.Overrides{CPU: "8", Memory: "32Gi"}, ""},
		{"4 cpu 2Gi", stage.Overrides{CPU: "4", Memory: "2Gi"}, ""},
		{"decimal memory", stage.Overrides{Memory: "1.5Gi"}, ""},
		{"secret alias", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "s", Version: "prod-alias"}}}, ""},
		{"project number", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "projects/123456/secrets/s", Version: "1"}}}, ""},
		{"compute sa", stage.Overrides{ServiceAccount: "123-compute@developer.gserviceaccount.com"}, ""},
		{"min zero", stage.Overrides{MinInstances: i32(0)}, ""},

		{"env digit first", stage.Overrides{Env: map[string]string{"1X": "v"}}, `Env variable name "1X"`},
		{"env dash", stage.Overrides{Env: map[string]string{"A-B": "v"}}, `Env variable name "A-B"`},
		{"env empty name", stage.Overrides{Env: map[string]string{"": "v"}}, "empty variable name"},
		{"env reserved", stage.Overrides{Env: map[string]string{"PORT": "9"}}, `Env variable "PORT" is set by Cloud Run`},
		{"remove reserved", stage.Overrides{RemoveEnv: []string{"K_SERVICE"}}, `RemoveEnv variable "K_SERVICE"`},
		{"secret reserved", stage.Overrides{Secrets: map[string]stage.SecretRef{"K_REVISION": {Secret: "s", Version: "1"}}}, `Secrets variable "K_REVISION"`},
		{"env and secret", stage.Overrides{Env: map[string]string{"X": "1"}, Secrets: map[string]stage.SecretRef{"X": {Secret: "s", Version: "1"}}}, `"X" is in both Env and Secrets`},
		{"set and removed", stage.Overrides{Env: map[string]string{"X": "1"}, RemoveEnv: []string{"X"}}, `"X" is both removed`},
		{"env too long", stage.Overrides{Env: map[string]string{"X": strings.Repeat("a", 32769)}}, `Env["X"] is 32769 bytes`},
		{"secret no version", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "s"}}}, `Secrets["K"].Version is empty`},
		{"secret version zero", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "s", Version: "0"}}}, `Secrets["K"].Version "0"`},
		{"secret version leading zero", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "s", Version: "01"}}}, `Secrets["K"].Version "01"`},
		{"secret value-like", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "hunter2 pass!", Version: "1"}}}, `Secrets["K"].Secret "hunter2 pass!"`},
		{"secret bad path", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "projects/p/secret/s", Version: "1"}}}, `want "NAME" or "projects/PROJECT/secrets/NAME"`},
		{"secret version path", stage.Overrides{Secrets: map[string]stage.SecretRef{"K": {Secret: "projects/my-project/secrets/s/versions/1", Version: "1"}}}, `want "NAME" or`},
		{"sa not email", stage.Overrides{ServiceAccount: "api"}, `ServiceAccount "api"`},
		{"sa upper", stage.Overrides{ServiceAccount: "Api@p.iam.gserviceaccount.com"}, `ServiceAccount "Api@`},
		{"cpu 3", stage.Overrides{CPU: "3"}, `CPU "3"`},
		{"cpu too small", stage.Overrides{CPU: "0.05"}, `CPU "0.05"`},
		{"cpu junk", stage.Overrides{CPU: "one"}, `CPU "one"`},
		{"memory no unit", stage.Overrides{Memory: "512"}, `Memory "512": no unit`},
		{"memory too big", stage.Overrides{Memory: "64Gi"}, `Memory "64Gi": out of range`},
		{"memory too small", stage.Overrides{Memory: "64Mi"}, `Memory "64Mi": out of range`},
		{"1 cpu 8Gi", stage.Overrides{CPU: "1", Memory: "8Gi"}, `memory "8Gi" with CPU "1": Cloud Run allows 128Mi to 4Gi`},
		{"4 cpu 1Gi", stage.Overrides{CPU: "4", Memory: "1Gi"}, `allows 2Gi to 16Gi`},
		{"8 cpu 2Gi", stage.Overrides{CPU: "8", Memory: "2Gi"}, `allows 4Gi to 32Gi`},
		{"half cpu 2Gi", stage.Overrides{CPU: "0.5", Memory: "2Gi"}, `allows 128Mi to 1Gi`},
		{"fraction concurrency", stage.Overrides{CPU: "0.5", Concurrency: i32(80)}, `Concurrency 80 with CPU "0.5"`},
		{"min negative", stage.Overrides{MinInstances: i32(-1)}, "MinInstances -1 is negative"},
		{"max zero", stage.Overrides{MaxInstances: i32(0)}, "MaxInstances 0 must be at least 1"},
		{"min above max", stage.Overrides{MinInstances: i32(5), MaxInstances: i32(2)}, "MinInstances 5 is above MaxInstances 2"},
		{"concurrency zero", stage.Overrides{Concurrency: i32(0)}, "Concurrency 0 is not in 1..1000"},
		{"concurrency big", stage.Overrides{Concurrency: i32(1001)}, "Concurrency 1001 is not in 1..1000"},
		{"label own", stage.Overrides{Labels: map[string]string{stage.LabelCommit: "x"}}, `label "twostage-commit" is set by the backend`},
		{"label config", stage.Overrides{Labels: map[string]string{stage.LabelConfig: "x"}}, `label "twostage-config"`},
		{"label reserved ns", stage.Overrides{Labels: map[string]string{"run.googleapis.com/x": "y"}}, `label key "run.googleapis.com/x" has '.'`},
		{"label upper value", stage.Overrides{Labels: map[string]string{"team": "Pay"}}, `label "team" value "Pay" has 'P'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.o.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, twostage.ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error wrapping ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestOverridesFingerprint(t *testing.T) {
	t.Parallel()
	if got := (stage.Overrides{}).Fingerprint(); got != "" {
		t.Errorf("zero Fingerprint() = %q, want \"\"", got)
	}
	if got := (stage.Overrides{Env: map[string]string{}, Labels: map[string]string{}}).Fingerprint(); got != "" {
		t.Errorf("empty maps Fingerprint() = %q, want \"\"", got)
	}
	a := richOverrides()
	fp := a.Fingerprint()
	if len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint() = %q, want 16 lower-case hex characters", fp)
	}
	// Order of RemoveEnv and duplicates do not matter.
	b := richOverrides()
	b.RemoveEnv = []string{"OLD_FLAG", "OLD_FLAG"}
	if b.Fingerprint() != fp || !a.Equal(b) {
		t.Errorf("duplicate RemoveEnv changed the fingerprint")
	}
	// Every field changes it.
	changes := map[string]func(*stage.Overrides){
		"env value": func(o *stage.Overrides) { o.Env["LOG_LEVEL"] = "info" },
		"env key":   func(o *stage.Overrides) { o.Env["NEW"] = "debug" },
		"remove":    func(o *stage.Overrides) { o.RemoveEnv = append(o.RemoveEnv, "X") },
		"secret ver": func(o *stage.Overrides) {
			o.Secrets["DB_PASSWORD"] = stage.SecretRef{Secret: "db-password", Version: "4"}
		},
		"sa":          func(o *stage.Overrides) { o.ServiceAccount = "x@p.iam.gserviceaccount.com" },
		"cpu":         func(o *stage.Overrides) { o.CPU = "4" },
		"memory":      func(o *stage.Overrides) { o.Memory = "2Gi" },
		"min":         func(o *stage.Overrides) { o.MinInstances = i32(2) },
		"min nil":     func(o *stage.Overrides) { o.MinInstances = nil },
		"max":         func(o *stage.Overrides) { o.MaxInstances = i32(11) },
		"concurrency": func(o *stage.Overrides) { o.Concurrency = i32(81) },
		"label":       func(o *stage.Overrides) { o.Labels["team"] = "core" },
		// An env value that looks like the next entry must not collide.
		"quoted": func(o *stage.Overrides) { o.Env["LOG_LEVEL"] = "debug\" \"x" },
	}
	for name, change := range changes {
		o := richOverrides()
		change(&o)
		if o.Fingerprint() == fp || o.Equal(a) {
			t.Errorf("%s: fingerprint unchanged", name)
		}
	}
}

func TestOverridesApplyTo(t *testing.T) {
	t.Parallel()
	live := stage.Overrides{
		Env:            map[string]string{"KEEP": "1", "OLD_FLAG": "x", "DB_PASSWORD": "plain", "LOG_LEVEL": "info"},
		Secrets:        map[string]stage.SecretRef{"API_KEY": {Secret: "k", Version: "1"}, "EMPTY": {Secret: "e", Version: "1"}},
		ServiceAccount: "old@p.iam.gserviceaccount.com",
		CPU:            "1",
		Memory:         "512Mi",
		MaxInstances:   i32(100),
		Labels:         map[string]string{"team": "core", "cost": "a"},
	}
	liveCopy := live.Clone()
	got := richOverrides().ApplyTo(live)
	want := stage.Overrides{
		Env:            map[string]string{"KEEP": "1", "LOG_LEVEL": "debug", "EMPTY": ""},
		Secrets:        map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "3"}, "API_KEY": {Secret: "projects/other-proj/secrets/api-key", Version: "latest"}},
		ServiceAccount: "api@my-project.iam.gserviceaccount.com",
		CPU:            "2",
		Memory:         "1Gi",
		MinInstances:   i32(1),
		MaxInstances:   i32(10),
		Concurrency:    i32(80),
		Labels:         map[string]string{"team": "payments", "cost": "a"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ApplyTo() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(liveCopy, live); diff != "" {
		t.Errorf("ApplyTo modified live (-want +got):\n%s", diff)
	}
	// Zero overrides keep everything.
	if diff := cmp.Diff(liveCopy, (stage.Overrides{}).ApplyTo(live)); diff != "" {
		t.Errorf("zero ApplyTo() mismatch (-want +got):\n%s", diff)
	}
}

func TestCompareLive(t *testing.T) {
	t.Parallel()
	declared := richOverrides()
	live := stage.Overrides{
		Env:            map[string]string{"LOG_LEVEL": "debug", "OLD_FLAG": "on", "EXTRA": "", "DB_PASSWORD": "plain"},
		Secrets:        map[string]stage.SecretRef{"API_KEY": {Secret: "projects/other-proj/secrets/api-key", Version: "latest"}},
		ServiceAccount: "api@my-project.iam.gserviceaccount.com",
		CPU:            "1",
		Memory:         "1Gi",
		MinInstances:   i32(0),
		MaxInstances:   i32(10),
		Labels:         map[string]string{"team": "payments", "cost": "a", stage.LabelCommit: "abc", stage.LabelManagedBy: "twostage"},
	}
	got := stage.CompareLive(declared, live)
	want := stage.Drift{
		{Field: "concurrency", Live: "", Declared: "80"},
		{Field: "cpu", Live: "1", Declared: "2"},
		{Field: "env.DB_PASSWORD", Live: "(hidden)", Declared: "secret:db-password:3"}, // a plain value under a credential-like name is never shown,
		{Field: "env.EMPTY", Live: "", Declared: `""`},
		{Field: "env.EXTRA", Live: `""`, Declared: ""},
		{Field: "env.OLD_FLAG", Live: "on", Declared: ""},
		{Field: "label.cost", Live: "a", Declared: ""},
		{Field: "minInstances", Live: "0", Declared: "1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CompareLive() mismatch (-want +got):\n%s", diff)
	}
	// After applying, only the live-only settings the overrides keep remain.
	after := stage.CompareLive(declared, declared.ApplyTo(live))
	wantAfter := stage.Drift{
		{Field: "env.EXTRA", Live: `""`, Declared: ""},
		{Field: "label.cost", Live: "a", Declared: ""},
	}
	if diff := cmp.Diff(wantAfter, after); diff != "" {
		t.Errorf("CompareLive(after ApplyTo) mismatch (-want +got):\n%s", diff)
	}
	if s := (stage.Drift{}).String(); s != "no drift" {
		t.Errorf("empty Drift.String() = %q", s)
	}
	wantStr := "cpu: live 1, declared 2\nenv.EXTRA: live \"\", declared (unset)"
	if s := (stage.Drift{want[1], want[4]}).String(); s != wantStr {
		t.Errorf("Drift.String() = %q, want %q", s, wantStr)
	}
}

func TestValidateEffective(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		declared, live stage.Overrides
		want           string
	}{
		{"defaults", stage.Overrides{}, stage.Overrides{}, ""},
		{"memory over default cpu", stage.Overrides{Memory: "8Gi"}, stage.Overrides{}, `CPU live, memory declared`},
		{"memory over live cpu", stage.Overrides{Memory: "8Gi"}, stage.Overrides{CPU: "2"}, ""},
		{"cpu under live memory", stage.Overrides{CPU: "1"}, stage.Overrides{CPU: "4", Memory: "8Gi"}, `CPU declared, memory live`},
		{"min above live max", stage.Overrides{MinInstances: i32(5)}, stage.Overrides{MaxInstances: i32(3)}, "MinInstances 5 (declared) is above MaxInstances 3 (live)"},
		{"fraction cpu live concurrency", stage.Overrides{CPU: "0.5"}, stage.Overrides{Concurrency: i32(80)}, "Concurrency 80 (live)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := stage.ValidateEffective(tt.declared, tt.declared.ApplyTo(tt.live))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateEffective() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, twostage.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ValidateEffective() = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

// Per-stage settings are declared in code and checked before any API call;
// the error names the field.
func ExampleOverrides_Validate() {
	one := int32(1)
	prod := stage.Overrides{
		Env:         map[string]string{"MODE": "prod"},
		Secrets:     map[string]stage.SecretRef{"DB_PASSWORD": {Secret: "db-password", Version: "latest"}},
		CPU:         "1",
		Memory:      "8Gi",
		Concurrency: &one,
	}
	fmt.Println(prod.Validate())
	prod.CPU = "2"
	fmt.Println(prod.Validate(), prod.Fingerprint() != "")
	// Output:
	// stage: overrides: memory "8Gi" with CPU "1": Cloud Run allows 128Mi to 4Gi with that CPU (see https://cloud.google.com/run/docs/configuring/services/cpu); change Memory or CPU: invalid
	// <nil> true
}

// CompareLive shows what a live template has that the declared overrides
// do not, and the other way round.
func ExampleCompareLive() {
	declared := stage.Overrides{Env: map[string]string{"MODE": "prod"}, Memory: "2Gi"}
	live := stage.Overrides{
		Env:    map[string]string{"MODE": "prod", "DEBUG": "1"},
		Memory: "4Gi",
		CPU:    "2",
	}
	fmt.Println(stage.CompareLive(declared, live))
	// Output:
	// env.DEBUG: live 1, declared (unset)
	// memory: live 4Gi, declared 2Gi
}

func TestCompareLiveHidesCredentialValues(t *testing.T) {
	t.Parallel()
	declared := stage.Overrides{Env: map[string]string{"DB_PASSWORD": "hunter2", "LOG_LEVEL": "info"}}
	live := stage.Overrides{Env: map[string]string{"DB_PASSWORD": "s3cr3t-live", "LOG_LEVEL": "trace", "API_TOKEN": "tok"}}
	got := stage.CompareLive(declared, live).String()
	for _, secret := range []string{"hunter2", "s3cr3t-live", "tok\n", "tok,"} {
		if strings.Contains(got+",", secret) {
			t.Errorf("drift report shows %q:\n%s", secret, got)
		}
	}
	for _, want := range []string{"env.DB_PASSWORD: live (hidden), declared (hidden)", "env.API_TOKEN: live (hidden), declared (unset)", "env.LOG_LEVEL: live trace, declared info"} {
		if !strings.Contains(got, want) {
			t.Errorf("drift report lacks %q:\n%s", want, got)
		}
	}
}
