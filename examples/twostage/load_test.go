package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake/emulators"
)

// TestLoad: local play end to end on the data plane. `dev --image-dir`
// builds an image of files, which the emulator serves from /app (GET /
// answers dist/index.html); `load` sends a steady rate to the dev service
// URL and reports the answers; --profile scripts a revision's errors.
func TestLoad(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context(), emulators.WithProject("test-project"), emulators.WithRepository("apps"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	dir := t.TempDir()
	cfg := filepath.Join(dir, "twostage.yaml")
	os.WriteFile(cfg, []byte(monitoringConfig), 0o644)
	img := filepath.Join(dir, "dist")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "index.html"), []byte("<h1>v1</h1>"), 0o644)
	env := map[string]string{"TWOSTAGE_EMULATOR_HOST": set.Addr}
	call := func(want int, args ...string) json.RawMessage {
		t.Helper()
		var stdout, stderr strings.Builder
		code := run(t.Context(), append(args, "--json", "--config", cfg), func(k string) string { return env[k] }, &stdout, &stderr)
		var r cliResult
		if err := json.Unmarshal([]byte(stdout.String()), &r); err != nil || code != want {
			t.Fatalf("twostage %v = %d (want %d), %v\nstdout: %s\nstderr: %s", args, code, want, err, stdout.String(), stderr.String())
		}
		return r.Result
	}
	var dev devResult
	json.Unmarshal(call(0, "dev", "--sha", strings.Repeat("a", 40), "--branch", "main", "--force", "--image-dir", img), &dev)

	var res loadResult
	// --count, not --duration: how many requests a wall-clock interval
	// holds depends on the machine's load.
	json.Unmarshal(call(0, "load", "--stage", "dev", "--rate", "1000", "--count", "20", "--duration", "0"), &res)
	if res.Sent != 20 || res.Failed != 0 || res.ByStatus["200"] != res.Sent || !strings.HasSuffix(res.URL, ".run.app/") {
		t.Errorf("load = %+v, want 20 requests to the dev URL, all 200", res)
	}
	res = loadResult{}
	json.Unmarshal(call(0, "load", "--stage", "dev", "--rate", "1000", "--count", "20", "--duration", "0", "--profile", dev.Revision+"=errors:1"), &res)
	if res.Sent != 20 || res.ByStatus["500"] != res.Sent {
		t.Errorf("load with errors:1 = %+v, want every answer 500", res)
	}
	var stderr strings.Builder
	if code := run(t.Context(), []string{"load", "--config", cfg}, func(string) string { return "" }, &stderr, &stderr); code != exitUsage || !strings.Contains(stderr.String(), "twostage emulator") {
		t.Errorf("load without the emulator = %d %q, want a usage error naming twostage emulator", code, stderr.String())
	}
}
