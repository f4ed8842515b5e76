package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// restCall sends a REST request to the server at addr and returns the
// status and the decoded JSON body.
func restCall(t *testing.T, c *http.Client, method, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, url, b, err)
	}
	return resp.StatusCode, v
}

// TestRESTThroughGRPC: the REST surface answers by the google.api.http
// annotations (longrunning's GET /v1/{name=operations/**}), in the proto3
// JSON mapping, with errors in Google's shape, through the gRPC server's
// interceptors (request log, injected faults), on the gRPC address, over
// HTTP/1.1 and h2c.
func TestRESTThroughGRPC(t *testing.T) {
	t.Parallel()
	log := &Log{}
	faults := &Faults{}
	impl := &ops{names: map[string]bool{"operations/a": true, "projects/p/locations/l/operations/o": true, "operations/sha256:cafe": true, "projects/p/locations/l/operations/a/b": true}, tag: "one"}
	s, err := Listen("", func(r grpc.ServiceRegistrar) {
		longrunningpb.RegisterOperationsServer(Intercept(r, Chain(log.Intercept, faults.Intercept)), impl)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h2c := &http.Transport{Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(h2c.CloseIdleConnections)
	h1 := &http.Transport{}
	t.Cleanup(h1.CloseIdleConnections)
	base := "http://" + s.Addr
	for name, c := range map[string]*http.Client{"HTTP/1.1": {Transport: h1}, "h2c": {Transport: h2c}} {
		code, body := restCall(t, c, "GET", base+"/v1/operations/a")
		if diff := cmp.Diff(map[string]any{"name": "operations/a", "done": true}, body); code != 200 || diff != "" {
			t.Errorf("%s: GET operations/a = %d, mismatch (-want +got):\n%s", name, code, diff)
		}
		code, body = restCall(t, c, "GET", base+"/v1/operations/missing")
		want := map[string]any{"error": map[string]any{"code": float64(404), "status": "NOT_FOUND", "message": `one: no operation "operations/missing"`}}
		if diff := cmp.Diff(want, body); code != 404 || diff != "" {
			t.Errorf("%s: GET operations/missing = %d, mismatch (-want +got):\n%s", name, code, diff)
		}
	}
	// The service configurations' paths of Operations (operationRules).
	for _, path := range []string{"/v2/projects/p/locations/l/operations/o", "/v1/projects/p/locations/l/operations/o"} {
		code, body := restCall(t, &http.Client{Transport: h1}, "GET", base+path+"?$alt=json%3Benum-encoding%3Dint")
		if code != 200 || body["name"] != "projects/p/locations/l/operations/o" {
			t.Errorf("GET %s = %d %v, want the operation", path, code, body)
		}
	}
	// IDs holding ':' (sent unescaped, not a custom verb) and an escaped '/'.
	for path, name := range map[string]string{"/v1/operations/sha256:cafe": "operations/sha256:cafe", "/v2/projects/p/locations/l/operations/a%2Fb": "projects/p/locations/l/operations/a/b"} {
		code, body := restCall(t, &http.Client{Transport: h1}, "GET", base+path)
		if code != 200 || body["name"] != name {
			t.Errorf("GET %s = %d %v, want operation %s", path, code, body, name)
		}
	}
	m := longrunningpb.Operations_GetOperation_FullMethodName
	faults.Inject(m, status.Error(codes.Unavailable, "injected"), 1)
	code, body := restCall(t, &http.Client{Transport: h1}, "GET", base+"/v1/operations/a")
	if e, _ := body["error"].(map[string]any); code != 503 || e["status"] != "UNAVAILABLE" || e["message"] != "injected" {
		t.Errorf("injected fault over REST = %d %v, want 503 UNAVAILABLE injected", code, body)
	}
	if got := log.Count(m); got != 9 {
		t.Errorf("log counts %d GetOperation calls, want 9 (REST calls are logged)", got)
	}
	code, body = restCall(t, &http.Client{Transport: h1}, "POST", base+"/v1/operations/a:cancel")
	if e, _ := body["error"].(map[string]any); code != 501 || e["status"] != "UNIMPLEMENTED" {
		t.Errorf("POST :cancel (a custom verb) = %d %v, want 501 UNIMPLEMENTED from the server", code, body)
	}
	code, body = restCall(t, &http.Client{Transport: h1}, "PUT", base+"/v1/operations/a")
	if e, _ := body["error"].(map[string]any); code != 405 || e["status"] != "INVALID_ARGUMENT" {
		t.Errorf("PUT (a method the path does not take) = %d %v, want 405 in Google's shape", code, body)
	}
	code, body = restCall(t, &http.Client{Transport: h1}, "GET", base+"/v9/nothing")
	if e, _ := body["error"].(map[string]any); code != 404 || e["status"] != "NOT_FOUND" || !strings.Contains(e["message"].(string), "google.longrunning.Operations") {
		t.Errorf("unknown path = %d %v, want 404 naming the services", code, body)
	}
}
