package emulators_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twostage/twostage/fake"
	"github.com/twostage/twostage/fake/emulators"
	"github.com/twostage/twostage/wif"
	"github.com/twostage/twostage/wif/provision"
)

// TestAdminAPI: a client that speaks only HTTP and JSON (as a Node or
// Python test would) sets the stage through the admin API and then plays
// it against the emulated APIs: a keyless exchange (GitHub token, STS,
// impersonation), a Cloud Run operation kept pending and completed, an
// image that fails, monitoring samples read back; bad admin requests are
// 400 or 404 naming the fix (issue 16, item 5; before, only Go calls could
// do this).
func TestAdminAPI(t *testing.T) {
	t.Parallel()
	clk := fake.NewClock(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	set, err := emulators.Start(t.Context(), emulators.WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	base := "http://" + set.Addr
	call := func(method, path, body string, header map[string]string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, data, want)
		}
		var out map[string]any
		_ = json.Unmarshal(data, &out)
		return out
	}
	if got := set.Endpoints().Admin; got != base+emulators.AdminPath {
		t.Errorf("Endpoints().Admin = %q", got)
	}
	methods := call("GET", emulators.AdminPath, "", nil, 200)["methods"].([]any)
	if len(methods) < 9 {
		t.Errorf("GET %s lists %d methods", emulators.AdminPath, len(methods))
	}

	// Keyless: the GitHub setup's provider, a push to main, the deployer.
	repo := wif.GitHubRepo{Owner: "octo", Name: "app", OwnerID: "7", ID: "42"}
	setup, err := provision.GitHubSetup(provision.GitHubConfig{Project: "my-project", ProjectNumber: "123456789012", Repo: repo,
		Region: "us-central1", Repository: "apps", DevService: "api-dev", ProdService: "api"})
	if err != nil {
		t.Fatal(err)
	}
	p := setup.Provider
	prov, _ := json.Marshal(map[string]any{"name": p.Name(), "attributeMapping": p.AttributeMapping, "attributeCondition": p.AttributeCondition})
	call("POST", emulators.AdminPath+"/sts/providers", string(prov), nil, 204)
	claims, _ := json.Marshal(wif.GitHubClaims(repo, "push", "refs/heads/main"))
	call("PUT", emulators.AdminPath+"/github/claims", string(claims), nil, 204)
	dev := wif.AttributePrincipal(setup.Pool, provision.StageAttribute, provision.IdentityDev).String()
	call("POST", emulators.AdminPath+"/sts/impersonation", `{"serviceAccount": "deployer@my-project.iam.gserviceaccount.com", "members": ["`+dev+`"]}`, nil, 204)
	gh := call("GET", emulators.AdminPath+"/github", "", nil, 200)
	u, err := url.Parse(gh["requestURL"].(string))
	if err != nil || u.Host != set.Addr {
		t.Fatalf("requestURL %v", gh["requestURL"])
	}
	jwt := call("GET", u.RequestURI()+"&audience="+url.QueryEscape(p.DefaultTokenAudience()), "", map[string]string{"Authorization": "Bearer " + gh["requestToken"].(string)}, 200)["value"].(string)
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "audience": {p.Audience()},
		"scope": {wif.CloudPlatformScope}, "requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"subject_token": {jwt}, "subject_token_type": {wif.SubjectTokenTypeJWT}}
	federated := call("POST", "/v1/token", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 200)["access_token"].(string)
	sa := call("POST", "/v1/projects/-/serviceAccounts/deployer@my-project.iam.gserviceaccount.com:generateAccessToken", `{"scope": ["`+wif.CloudPlatformScope+`"]}`,
		map[string]string{"Authorization": "Bearer " + federated}, 200)
	if tok, _ := sa["accessToken"].(string); tok == "" {
		t.Errorf("generateAccessToken = %v, want an access token", sa)
	}

	// Cloud Run: an operation kept pending, then completed.
	call("PUT", emulators.AdminPath+"/run/operations", `{"manual": true}`, nil, 204)
	services := "/v2/projects/my-project/locations/us-central1/services"
	image := set.ImageRepository() + "/api@sha256:" + strings.Repeat("a", 64)
	op := call("POST", services+"?serviceId=api", `{"template": {"containers": [{"image": "`+image+`"}]}}`, nil, 200)
	if op["done"] == true {
		t.Fatalf("CreateService with manual operations = %v, want a pending operation", op)
	}
	if n := call("POST", emulators.AdminPath+"/run/operations:complete", "", nil, 200)["completed"]; n != float64(1) {
		t.Errorf("operations:complete completed %v, want 1", n)
	}
	if op = call("GET", "/v2/"+op["name"].(string), "", nil, 200); op["done"] != true || op["error"] != nil {
		t.Errorf("the operation after completing = %v, want done without error", op)
	}
	call("PUT", emulators.AdminPath+"/run/operations", `{"manual": false}`, nil, 204)

	// An image that fails.
	bad := set.ImageRepository() + "/api@sha256:" + strings.Repeat("b", 64)
	call("POST", emulators.AdminPath+"/run/failing-images", `{"image": "`+bad+`", "message": "exec format error"}`, nil, 204)
	op = call("POST", services+"?serviceId=broken", `{"template": {"containers": [{"image": "`+bad+`"}]}}`, nil, 200)
	if e, _ := op["error"].(map[string]any); e == nil || !strings.Contains(e["message"].(string), "exec format error") {
		t.Errorf("creating a service from the failing image: operation %v, want its error", op)
	}

	// Monitoring samples, read back over REST.
	call("POST", emulators.AdminPath+"/monitoring/samples", `{"samples": [{"project": "my-project", "location": "us-central1", "service": "api", "revision": "api-00001-abc", "code": 200, "count": 120, "end": "2026-12-04T08:55:00Z"}]}`, nil, 204)
	q := url.Values{"filter": {`metric.type="run.googleapis.com/request_count"`}, "interval.startTime": {"2026-12-04T08:50:00Z"}, "interval.endTime": {"2026-12-04T09:00:00Z"}}
	ts := call("GET", "/v3/projects/my-project/timeSeries?"+q.Encode(), "", nil, 200)
	if list, _ := ts["timeSeries"].([]any); len(list) != 1 {
		t.Errorf("timeSeries after adding a sample = %v, want one series", ts)
	}

	// Bad requests name the fix.
	for _, bad := range []struct{ method, path, body, says string }{
		{"PUT", emulators.AdminPath + "/github/claims", `{}`, "the claims are empty"},
		{"PUT", emulators.AdminPath + "/run/operations", `{"manaul": true}`, "unknown field"},
		{"POST", emulators.AdminPath + "/sts/impersonation", `{"serviceAccount": "nobody"}`, "serviceAccount"},
		{"POST", emulators.AdminPath + "/monitoring/samples", `{"samples": [{"project": "p"}]}`, "samples[0]"},
	} {
		e := call(bad.method, bad.path, bad.body, nil, 400)["error"].(map[string]any)
		if msg := e["message"].(string); e["status"] != "INVALID_ARGUMENT" || !strings.Contains(msg, bad.says) {
			t.Errorf("%s %s %s = %v, want INVALID_ARGUMENT saying %q", bad.method, bad.path, bad.body, e, bad.says)
		}
	}
	if e := call("DELETE", emulators.AdminPath+"/reset", "", nil, 404)["error"].(map[string]any); !strings.Contains(e["message"].(string), "POST "+emulators.AdminPath+"/reset") {
		t.Errorf("an unknown admin method = %v, want the list of methods", e)
	}
	call("POST", emulators.AdminPath+"/reset", "", nil, 204)
	if n := len(set.CloudRun().Requests()); n != 0 {
		t.Errorf("after reset the Cloud Run log holds %d requests", n)
	}
}
