package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/artifactregistryfake"
	"github.com/twostage/twostage/fake/cloudrunfake"
)

const regionsConfig = `project: test-project
region: us-central1
registry:
  repository: apps
  image: api
services:
  dev: api-dev
  prod: api
  prod-regions: [europe-west1]
rollout:
  steps:
    - {percent: 5, bake: 1m, max-wait: 10m}
    - {percent: 100}
  gates:
    - {type: threshold, max-error-rate: 0.01}
  metrics: {source: file, file: traffic.json}
`

// TestProdRegions releases to two prod regions and promotes region by
// region; when the second region's gate fails, the first region, already
// promoted, is rolled back too, so both serve the same release.
func TestProdRegions(t *testing.T) {
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
	os.WriteFile(cfg, []byte(regionsConfig), 0o644)
	os.WriteFile(filepath.Join(dir, "traffic.json"), []byte(`{"revisions": {"*": {"rps": 20}, "europe-west1/api-v1-2-0-*": {"rps": 20, "error-rate": 0.3}}}`), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	env := map[string]string{"TWOSTAGE_EMULATOR_HOST": "run=" + crun.Addr + ",artifactregistry=" + ar.Addr + ",registry=" + ar.RegistryHost()}
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	call := func(want int, args ...string) json.RawMessage {
		t.Helper()
		var stdout, stderr strings.Builder
		code := runClock(t.Context(), append(args, "--json", "--config", cfg), func(k string) string { return env[k] }, &stdout, &stderr, clock)
		var r cliResult
		if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil || code != want {
			t.Fatalf("twostage %v = %d (want %d), %v\nstdout: %s\nstderr: %s", args, code, want, err, stdout.String(), stderr.String())
		}
		return r.Result
	}
	status := func() (us, eu map[string]int) {
		t.Helper()
		var s statusResult
		json.Unmarshal(call(0, "status"), &s)
		if len(s.ProdRegions) != 1 || s.ProdRegions[0].Region != "europe-west1" {
			t.Fatalf("status prod regions = %+v", s.ProdRegions)
		}
		return shares(s.Prod), shares(s.ProdRegions[0])
	}
	deploy := func(sha, content, tag string) {
		t.Helper()
		os.WriteFile(filepath.Join(img, "index.html"), []byte(content), 0o644)
		call(0, "dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img)
		call(0, "release", "--tag", tag, "--sha", sha)
	}
	shaA, shaB, shaC := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)

	deploy(shaA, "one", "v1.0.0")
	v100 := "api-v1-0-0-aaaaaaa"
	us, eu := status()
	if diff := cmp.Diff([]map[string]int{{v100: 100}, {v100: 100}}, []map[string]int{us, eu}); diff != "" {
		t.Errorf("after the first release (-want +got):\n%s", diff)
	}

	deploy(shaB, "two", "v1.1.0")
	v110 := "api-v1-1-0-bbbbbbb"
	var ro rolloutResult
	json.Unmarshal(call(0, "promote"), &ro)
	if ro.Phase != "Succeeded" || len(ro.Regions) != 1 || ro.Regions[0].Phase != "Succeeded" || ro.Regions[0].Region != "europe-west1" {
		t.Errorf("promote v1.1.0 = %+v, want Succeeded in both regions", ro)
	}
	us, eu = status()
	if diff := cmp.Diff([]map[string]int{{v110: 100}, {v110: 100}}, []map[string]int{us, eu}); diff != "" {
		t.Errorf("after promoting v1.1.0 (-want +got):\n%s", diff)
	}

	deploy(shaC, "three", "v1.2.0")
	ro = rolloutResult{}
	json.Unmarshal(call(4, "promote"), &ro)
	if ro.Phase != "RolledBack" || !strings.Contains(ro.Reason, "europe-west1") || len(ro.Regions) != 1 || ro.Regions[0].Phase != "RolledBack" || !strings.Contains(ro.Regions[0].Reason, "threshold") {
		t.Errorf("promote v1.2.0 = %+v, want europe-west1 rolled back by the gate and us-central1 after it", ro)
	}
	us, eu = status()
	if diff := cmp.Diff([]map[string]int{{v110: 100}, {v110: 100}}, []map[string]int{us, eu}); diff != "" {
		t.Errorf("after the bad release (-want +got):\n%s", diff)
	}
}
