package emulators_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake/emulators"
)

// TestREST: the shared address answers the REST/JSON paths of every gRPC
// API (issue 16) through the right emulator, beside the OCI registry and
// IAM, and unknown REST paths keep the router's 404 naming what is served.
func TestREST(t *testing.T) {
	t.Parallel()
	set, err := emulators.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	base := set.Endpoints().REST
	if base != "http://"+set.Addr {
		t.Errorf("Endpoints().REST = %q, want http://%s", base, set.Addr)
	}
	tests := []struct {
		method, path, body string
		code               int
		want               string // a substring of the answer
	}{
		{"GET", "/v2/projects/p/locations/us-central1/services", "", 200, "{"},
		{"GET", "/v2/projects/p/locations/us-central1/services/none", "", 404, `"status":"NOT_FOUND"`},
		{"GET", "/v2/projects/p/locations/us-central1/operations/none", "", 404, `"status":"NOT_FOUND"`},
		{"GET", "/v1/projects/my-project/locations/us-central1/repositories/apps", "", 200, `"name":"projects/my-project/locations/us-central1/repositories/apps"`},
		{"GET", "/v3/projects/my-project", "", 0, ""},
		{"GET", "/v3/projects/my-project/timeSeries?filter=metric.type%3D%22run.googleapis.com%2Frequest_count%22&interval.endTime=2026-01-01T00:00:00Z&interval.startTime=2025-12-31T00:00:00Z", "", 200, "{"},
		{"GET", "/v3/projects/my-project/metricDescriptors", "", 501, `"status":"UNIMPLEMENTED"`},
		{"GET", "/v2/projects/p/nothing", "", 404, "isnotemulated;routes:"},
		{"GET", "/v1/projects/p/locations/l/nothing", "", 404, "isnotemulated;routes:"},
		{"GET", "/v2/", "", 200, ""}, // the OCI registry's version check still answers
	}
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, base+tt.path, strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tt.code == 0 { // Resource Manager: any answer of the API, JSON
			if !json.Valid(b) || strings.Contains(string(b), "is not emulated") {
				t.Errorf("%s %s = %d %s, want Resource Manager's JSON answer", tt.method, tt.path, resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != tt.code || !strings.Contains(strings.ReplaceAll(string(b), " ", ""), tt.want) {
			t.Errorf("%s %s = %d %s, want %d with %s", tt.method, tt.path, resp.StatusCode, b, tt.code, tt.want)
		}
	}
}
