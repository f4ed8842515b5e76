package stsfake_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/internal/emulator/hostile"
)

// TestHostileInput: a 150 MiB body (declared or chunked) to the token
// exchange (form or JSON) is refused with 413 after reading at most the
// 10 MiB limit (five such requests allocate about 55 MiB), and one to
// IAM Credentials is refused too; bad bodies and traversal
// are 4xx, 200 concurrent junk requests crash nothing, and the memory
// allocated stays bounded. Not parallel: it measures allocations.
func TestHostileInput(t *testing.T) {
	srv, err := stsfake.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := srv.Client()
	gat := srv.URL() + "/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken"
	const huge = 150 * hostile.MiB
	hostile.Bounded(t, 96*hostile.MiB, func() {
		for _, chunked := range []bool{false, true} {
			for _, tc := range []struct{ url, ct, prefix string }{
				{srv.TokenURL(), "application/x-www-form-urlencoded", "grant_type="},
				{srv.TokenURL(), "application/json", `{"grantType": "`},
			} {
				if code := hostile.Do(t, c, http.MethodPost, tc.url, tc.ct, hostile.Body(huge, tc.prefix, 'a'), huge, chunked); code != http.StatusRequestEntityTooLarge && code != 0 {
					t.Errorf("150 MiB %s body (chunked %v): HTTP %d, want 413", tc.ct, chunked, code)
				}
			}
		}
		// generateAccessToken refuses an unauthenticated caller before
		// reading the body: whatever it answers, it must not read 150 MiB.
		if code := hostile.Do(t, c, http.MethodPost, gat, "application/json", hostile.Body(huge, `{"scope": ["`, 'a'), huge, true); code/100 != 4 && code != 0 {
			t.Errorf("150 MiB generateAccessToken body: HTTP %d, want a 4xx", code)
		}
	})
	for _, tc := range []struct{ method, url, ct, body string }{
		{http.MethodPost, srv.TokenURL(), "application/json", `{not json`},
		{http.MethodPost, srv.TokenURL(), "application/json", `{"grantType": 7}`},
		{http.MethodPost, srv.TokenURL(), "application/x-www-form-urlencoded", "grant_type=%zz"},
		{http.MethodGet, srv.URL() + "/v1/../../etc/passwd", "", ""},
		{http.MethodPost, srv.URL() + "/v1/projects/-/serviceAccounts/..%2F..%2Fx:generateAccessToken", "application/json", `{}`},
		{http.MethodGet, srv.URL() + "/actions/token?audience=" + strings.Repeat("a", 1<<16), "", ""},
	} {
		code := hostile.Do(t, c, tc.method, tc.url, tc.ct, strings.NewReader(tc.body), int64(len(tc.body)), false)
		if code/100 != 4 {
			t.Errorf("%s %.80s %q: HTTP %d, want a 4xx", tc.method, tc.url, tc.body, code)
		}
	}
	hostile.Bounded(t, 48*hostile.MiB, func() {
		hostile.Concurrently(200, func(i int) {
			body := hostile.Junk(i)
			ct := []string{"application/json", "application/x-www-form-urlencoded"}[i%2]
			if code := hostile.Do(t, c, http.MethodPost, srv.TokenURL(), ct, strings.NewReader(body), int64(len(body)), i%3 == 0); code/100 != 4 {
				t.Errorf("junk request %d: HTTP %d, want a 4xx", i, code)
			}
		})
	})
	if code := hostile.Do(t, c, http.MethodGet, srv.DiscoveryURL(), "", nil, 0, false); code != http.StatusOK {
		t.Errorf("discovery after the hostile input: HTTP %d, want 200", code)
	}
}
