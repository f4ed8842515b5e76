package iamfake_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake/iamfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: a 150 MiB body (declared or chunked) is refused with
// 413 without being read, bad JSON, traversal and negative sizes are 4xx,
// 200 concurrent junk requests crash nothing, and the memory allocated
// stays bounded. Before the body limit a 150 MiB JSON body was decoded
// whole. Not parallel: it measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := iamfake.NewServer(iamfake.WithProject("my-proj", "123"), iamfake.WithServiceAccount("my-proj", "a@my-proj.iam.gserviceaccount.com"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, base := srv.Client(), strings.TrimSuffix(srv.URL(), "/")
	create := base + "/v1/projects/my-proj/locations/global/workloadIdentityPools?workloadIdentityPoolId=pool-1"
	const huge = 150 * hostile.MiB
	hostile.Bounded(t, 48*hostile.MiB, func() {
		for _, chunked := range []bool{false, true} {
			body := hostile.Body(huge, `{"displayName": "`, 'a')
			if code := hostile.Do(t, c, http.MethodPost, create, "application/json", body, huge, chunked); code != http.StatusRequestEntityTooLarge && code != 0 {
				t.Errorf("150 MiB body (chunked %v): HTTP %d, want 413", chunked, code)
			}
		}
	})
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{http.MethodPost, "/v1/projects/my-proj/locations/global/workloadIdentityPools?workloadIdentityPoolId=pool-2", `{not json`, http.StatusBadRequest},
		{http.MethodGet, "/v1/projects/my-proj/locations/global/workloadIdentityPools?pageSize=-1", "", http.StatusBadRequest},
		{http.MethodGet, "/v1/projects/../../../etc/passwd", "", 0},
		{http.MethodGet, "/v1/projects/my-proj/locations/global/workloadIdentityPools/..%2F..%2Fx", "", 0},
		{http.MethodPost, "/v1/projects/-/serviceAccounts/a@my-proj.iam.gserviceaccount.com:setIamPolicy", `{"policy": {"version": -3}}`, http.StatusBadRequest},
	} {
		code := hostile.Do(t, c, tc.method, base+tc.path, "application/json", strings.NewReader(tc.body), int64(len(tc.body)), false)
		if tc.want != 0 && code != tc.want || code < 400 || code == http.StatusInternalServerError {
			t.Errorf("%s %s %q: HTTP %d, want %d (a refusal, not a 2xx or a 500)", tc.method, tc.path, tc.body, code, tc.want)
		}
	}
	hostile.Bounded(t, 48*hostile.MiB, func() {
		hostile.Concurrently(200, func(i int) {
			body := hostile.Junk(i)
			if code := hostile.Do(t, c, http.MethodPost, create, "application/json", strings.NewReader(body), int64(len(body)), i%2 == 0); code/100 != 4 {
				t.Errorf("junk request %d: HTTP %d, want a 4xx", i, code)
			}
		})
	})
	if code := hostile.Do(t, c, http.MethodGet, base+"/v1/projects/my-proj/locations/global/workloadIdentityPools", "", nil, 0, false); code != http.StatusOK {
		t.Errorf("list after the hostile input: HTTP %d, want 200", code)
	}
}
