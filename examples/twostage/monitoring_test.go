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
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/fake/monitoringfake"
)

const monitoringConfig = `project: test-project
region: us-central1
registry:
  repository: apps
  image: api
services:
  dev: api-dev
  prod: api
rollout:
  steps:
    - {percent: 5, bake: 5m, max-wait: 30m}
    - {percent: 25, bake: 5m, max-wait: 30m}
    - {percent: 100}
  gates:
    - {type: sequential, alpha: 0.01, min-duration: 5m}
  metrics: {source: cloud-monitoring}
`

// TestCloudMonitoringGate promotes behind the sequential gate reading
// Cloud Run's request_count from Cloud Monitoring (rollout.metrics.source
// cloud-monitoring), served by the emulator set on the one address
// TWOSTAGE_EMULATOR_HOST names. The request counts are scripted into the
// Monitoring emulator (fake/monitoringfake) per revision and minute; the
// set and the CLI share one fake clock, so bakes, gate waits and the
// metric's 3-minute reporting delay take no wall time. A healthy release
// (no more errors than the stable) is promoted to 100%; a bad one (30% of
// its requests fail) is rolled back by the gate, exit 4.
func TestCloudMonitoringGate(t *testing.T) {
	t.Parallel()
	clock := fake.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	set, err := emulators.Start(t.Context(), emulators.WithProject("test-project"), emulators.WithRepository("apps"), emulators.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(monitoringConfig), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)

	env := map[string]string{"TWOSTAGE_EMULATOR_HOST": set.Addr}
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
	deploy := func(sha, content, tag string) {
		t.Helper()
		os.WriteFile(filepath.Join(img, "index.html"), []byte(content), 0o644)
		call(0, "dev", "--sha", sha, "--branch", "main", "--force", "--image-dir", img)
		call(0, "release", "--tag", tag, "--sha", sha)
	}
	prodShares := func() map[string]int {
		t.Helper()
		var s statusResult
		json.Unmarshal(call(0, "status"), &s)
		return shares(s.Prod)
	}
	// traffic scripts two hours of one-minute samples from now, as Cloud
	// Run reports them: the stable serves 1900 requests a minute, 2 of
	// them 5xx; the candidate 100, of which candidateErrors are 5xx.
	traffic := func(stable, candidate string, candidateErrors int64) {
		start := clock.Now().Truncate(time.Minute)
		var samples []monitoringfake.Sample
		for i := 1; i <= 120; i++ {
			end := start.Add(time.Duration(i) * time.Minute)
			s := monitoringfake.Sample{Project: "test-project", Location: "us-central1", Service: "api", End: end}
			for _, x := range []struct {
				rev   string
				code  int
				count int64
			}{
				{stable, 200, 1898}, {stable, 500, 2},
				{candidate, 200, 100 - candidateErrors}, {candidate, 503, candidateErrors},
			} {
				s.Revision, s.Code, s.Count = x.rev, x.code, x.count
				samples = append(samples, s)
			}
			// Another service's revision in the same project and region,
			// failing: the gate must not count it.
			samples = append(samples, monitoringfake.Sample{Project: "test-project", Location: "us-central1", Service: "other", Revision: candidate, Code: 500, End: end, Count: 1000})
		}
		set.Monitoring().Add(samples...)
	}

	// An explicit TWOSTAGE_EMULATOR_HOST without monitoring= cannot serve
	// the gates: refused with the fix, before any write.
	explicit := map[string]string{"TWOSTAGE_EMULATOR_HOST": "run=" + set.Addr + ",artifactregistry=" + set.Addr + ",registry=" + set.Addr}
	var stdout, stderr strings.Builder
	if code := runClock(t.Context(), []string{"status", "--config", cfg}, func(k string) string { return explicit[k] }, &stdout, &stderr, clock); code != exitFailed || !strings.Contains(stderr.String(), "names no Cloud Monitoring emulator") || !strings.Contains(stderr.String(), "monitoring=HOST:PORT") {
		t.Errorf("status with an explicit list without monitoring = exit %d, want 1 naming the fix\nstderr: %s", code, stderr.String())
	}

	shaA, shaB, shaC := strings.Repeat("a", 40), strings.Repeat("b", 40), strings.Repeat("c", 40)
	v100, v110, v120 := "api-v1-0-0-aaaaaaa", "api-v1-1-0-bbbbbbb", "api-v1-2-0-ccccccc"
	deploy(shaA, "one", "v1.0.0") // the first release: prod at 100%

	// A healthy release: promoted 5% → 25% → 100% on the gate's pass.
	deploy(shaB, "two", "v1.1.0")
	traffic(v100, v110, 0)
	calls, before := set.Monitoring().Count("ListTimeSeries"), clock.Now()
	var ro rolloutResult
	json.Unmarshal(call(0, "promote"), &ro)
	if ro.Phase != "Succeeded" || ro.Candidate != v110 {
		t.Errorf("promote v1.1.0 = %+v, want Succeeded", ro)
	}
	if diff := cmp.Diff(map[string]int{v110: 100}, prodShares()); diff != "" {
		t.Errorf("prod after promoting v1.1.0 (-want +got):\n%s", diff)
	}
	if set.Monitoring().Count("ListTimeSeries") == calls {
		t.Error("the gate never asked Cloud Monitoring")
	}
	// Two steps of 5-minute bakes, each passed only once the 5 minutes of
	// min-duration are reported, 3 minutes late: at least 16 simulated
	// minutes.
	if took := clock.Now().Sub(before); took < 16*time.Minute {
		t.Errorf("the rollout took %v of simulated time, want at least 16m (two bakes + reporting delay)", took)
	}

	// A bad release: 30% of its requests fail; rolled back at 5%.
	deploy(shaC, "three", "v1.2.0")
	traffic(v110, v120, 30)
	ro = rolloutResult{}
	json.Unmarshal(call(4, "promote"), &ro)
	if ro.Phase != "RolledBack" || ro.Step != 1 || !strings.Contains(ro.Reason, "sequential") {
		t.Errorf("promote v1.2.0 = %+v, want RolledBack at step 1 by the sequential gate", ro)
	}
	if diff := cmp.Diff(map[string]int{v110: 100}, prodShares()); diff != "" {
		t.Errorf("prod after the bad release (-want +got):\n%s", diff)
	}
}
