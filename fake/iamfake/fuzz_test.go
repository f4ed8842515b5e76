package iamfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake/iamfake"
)

// FuzzRequests sends arbitrary methods, paths and bodies: the emulator must
// answer every one, errors in Google's JSON error shape.
func FuzzRequests(f *testing.F) {
	f.Add("POST", "v1/projects/my-proj/locations/global/workloadIdentityPools?workloadIdentityPoolId=github", `{"displayName":"x"}`)
	f.Add("GET", "v1/projects/my-proj/locations/global/workloadIdentityPools?pageSize=2&pageToken=%%%", "")
	f.Add("PATCH", "v1/projects/123/locations/global/workloadIdentityPools/github/providers/p?updateMask=oidc.issuerUri", `{"oidc":null}`)
	f.Add("POST", "v1/projects/-/serviceAccounts/a@b:setIamPolicy", `{"policy":{"version":2}}`)
	f.Add("GET", "v1/projects/my-proj/locations/global/workloadIdentityPools/github/operations/op-1", "")
	f.Add("DELETE", "v2/x", "{")
	srv, err := iamfake.NewServer(iamfake.WithProject("my-proj", "123"), iamfake.WithServiceAccount("my-proj", "a@b"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = srv.Close() })
	hc := &http.Client{}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || method == "" {
			return
		}
		req, err := http.NewRequest(method, srv.URL()+strings.TrimPrefix(path, "/"), strings.NewReader(body))
		if err != nil {
			return
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if method == http.MethodHead {
			return
		}
		if resp.StatusCode >= 400 {
			var e struct {
				Error struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
					Status  string `json:"status"`
				} `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Code != resp.StatusCode || e.Error.Status == "" || e.Error.Message == "" {
				t.Fatalf("%s %s: status %d with body %q, want Google's error shape", method, path, resp.StatusCode, b)
			}
		}
	})
}
