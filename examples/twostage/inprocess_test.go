package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

const wifConfig = `project: test-project
project-number: "123456789012"
region: us-central1
registry:
  repository: apps
  image: api
services:
  dev: api-dev
  prod: api
  runtime-service-account: api-runtime@test-project.iam.gserviceaccount.com
wif:
  repository: octo/app
  repository-id: "42"
  owner-id: "7"
  prod-environment: production
`

// TestInProcessWithEmulators drives run in-process (with an injected
// clock) against the emulators: the ci command on a GitHub push, doctor
// and the offline wif subcommands.
func TestInProcessWithEmulators(t *testing.T) {
	t.Parallel()
	crun, err := cloudrunfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crun.Close() })
	ar, err := artifactregistryfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.Close() })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(wifConfig), 0o644)
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "index.html"), []byte("hello"), 0o644)
	outputs := filepath.Join(dir, "outputs")
	sha := strings.Repeat("ab12", 10)
	env := map[string]string{
		"TWOSTAGE_EMULATOR_HOST": "run=" + crun.Addr + ",artifactregistry=" + ar.Addr + ",registry=" + ar.RegistryHost(),
		"GITHUB_ACTIONS":         "true", "GITHUB_REF": "refs/heads/main", "GITHUB_SHA": sha, "GITHUB_ACTOR": "octocat",
		"GITHUB_OUTPUT": outputs,
	}
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	call := func(want int, args ...string) map[string]any {
		t.Helper()
		var stdout, stderr strings.Builder
		code := runClock(t.Context(), append(args, "--json", "--config", cfg), func(k string) string { return env[k] }, &stdout, &stderr, clock)
		var r map[string]any
		if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil || code != want {
			t.Fatalf("twostage %v = %d (want %d), %v\nstdout: %s\nstderr: %s", args, code, want, err, stdout.String(), stderr.String())
		}
		return r
	}

	// doctor before any deploy: the repository is fine, the services do
	// not exist yet (information, with the fix).
	r := call(0, "doctor")
	got := map[string]string{}
	for _, f := range r["result"].(map[string]any)["findings"].([]any) {
		m := f.(map[string]any)
		got[m["check"].(string)] = m["severity"].(string)
	}
	for check, sev := range map[string]string{"config": "ok", "repository": "ok", "service/dev": "info", "service/prod": "info"} {
		if got[check] != sev {
			t.Errorf("doctor %s = %q, want %q (all: %v)", check, got[check], sev, got)
		}
	}

	// ci on a push to main is a dev deploy of GITHUB_SHA.
	r = call(0, "ci", "--image-dir", filepath.Join(dir, "dist"))
	ciResult := r
	// doctor now checks the deployer's permissions on the dev service.
	got = map[string]string{}
	for _, f := range call(0, "doctor")["result"].(map[string]any)["findings"].([]any) {
		m := f.(map[string]any)
		got[m["check"].(string)] = m["severity"].(string)
	}
	if got["service/dev"] != "ok" || got["iam/dev"] != "ok" {
		t.Errorf("doctor after a dev deploy: %v, want service/dev and iam/dev ok", got)
	}
	r = ciResult
	res := r["result"].(map[string]any)
	if r["command"] != "dev" || res["revision"] != "api-dev-ab12ab1" || res["commit"] != sha {
		t.Errorf("ci on a push = %v", r)
	}
	out, _ := os.ReadFile(outputs)
	if !strings.Contains(string(out), "revision<<") || !strings.Contains(string(out), "api-dev-ab12ab1") {
		t.Errorf("GITHUB_OUTPUT = %q, want the revision", out)
	}

	// wif, offline.
	r = call(0, "wif", "simulate")
	sim := r["result"].(map[string]any)["simulation"].(map[string]any)
	if sim["Accepted"] != true {
		t.Errorf("wif simulate of a push to main = %v, want accepted", sim)
	}
	r = call(0, "wif", "simulate", "--event", "pull_request", "--ref", "refs/pull/1/merge")
	if sim := r["result"].(map[string]any)["simulation"].(map[string]any); sim["Accepted"] != false {
		t.Errorf("wif simulate of a pull request = %v, want refused", sim)
	}
	// The promote workflow runs from main in the prod environment: prod
	// roles; from main without it: refused (no step dispatches outside the
	// environment).
	for _, tt := range []struct {
		env      string
		wantProd bool
	}{{"production", true}, {"", false}, {"staging", false}} {
		r = call(0, "wif", "simulate", "--event", "workflow_dispatch", "--environment", tt.env)
		sim := r["result"].(map[string]any)["simulation"].(map[string]any)
		prod := false
		bindings, _ := sim["Bindings"].([]any)
		for _, b := range bindings {
			if strings.Contains(fmt.Sprint(b), "services/api ") || strings.HasSuffix(fmt.Sprint(b.(map[string]any)["Member"]), "/prod") {
				prod = true
			}
		}
		if prod != tt.wantProd {
			t.Errorf("workflow_dispatch in environment %q: prod bindings %v, want %v (%v)", tt.env, prod, tt.wantProd, sim["Bindings"])
		}
	}
	r = call(0, "wif", "render")
	if s, _ := r["result"].(map[string]any)["script"].(string); !strings.Contains(s, "gcloud iam workload-identity-pools") {
		t.Errorf("wif render = %.200q, want gcloud commands", s)
	}
	call(0, "wif", "lint")
	call(1, "wif", "plan") // IAM is not emulated: a clear error, no call to Google
}
