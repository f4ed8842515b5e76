package emulators

import (
	"net/http"
	"testing"
)

func request(method, path string, grpc bool) *http.Request {
	r, err := http.NewRequest(method, "http://emulator.test"+path, nil)
	if err != nil {
		panic(err)
	}
	if grpc {
		r.ProtoMajor, r.ProtoMinor = 2, 0
		r.Header.Set("Content-Type", "application/grpc")
	}
	return r
}

func tableForTest(t testing.TB) []Route {
	t.Helper()
	set, err := Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close() })
	return set.table
}

// TestRoutesDisjoint sends every path each emulator serves to the routing
// table: each must match exactly one route, the expected emulator's.
func TestRoutesDisjoint(t *testing.T) {
	t.Parallel()
	table := tableForTest(t)
	tests := []struct {
		method, path string
		grpc         bool
		want         string // the route's API prefix
	}{
		{"POST", "/google.cloud.run.v2.Services/CreateService", true, "gRPC"},
		{"POST", "/google.longrunning.Operations/GetOperation", true, "gRPC"},
		{"POST", "/v1/token", true, "gRPC"}, // gRPC wins on any path
		{"GET", "/v2/", false, "OCI"},
		{"GET", "/v2", false, "OCI"},
		{"PUT", "/v2/p/r/app/manifests/v1", false, "OCI"},
		{"POST", "/v2/p/r/app/blobs/uploads/", false, "OCI"},
		{"HEAD", "/v2/p/r/team/api/manifests/sha256:00", false, "OCI"},
		{"POST", "/v1/token", false, "Security Token Service"},
		{"POST", "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken", false, "IAM Credentials"},
		{"POST", "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:signJwt", false, "IAM Credentials"},
		{"GET", "/.well-known/openid-configuration", false, "OIDC"},
		{"GET", "/.well-known/jwks", false, "OIDC"},
		{"GET", "/actions/token", false, "GitHub Actions"},
		{"POST", "/v1/projects/p/locations/global/workloadIdentityPools", false, "IAM v1"},
		{"GET", "/v1/projects/123/locations/global/workloadIdentityPools/gh/providers/x/operations/op-1", false, "IAM v1"},
		{"POST", "/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com:getIamPolicy", false, "IAM v1"},
		{"POST", "/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:setIamPolicy", false, "IAM v1"},
		{"GET", "/v1/endpoints", false, "the addresses"},
		// REST surfaces of the gRPC APIs go to the transcoder (issue 16),
		// not to the OCI registry or IAM.
		{"GET", "/v2/projects/p/locations/l/services/s", false, "REST/JSON of google.cloud.run.v2"},
		{"GET", "/v2/projects/p/locations/l/operations/o", false, "REST/JSON of google.cloud.run.v2"},
		{"GET", "/v1/projects/p/locations/l/repositories/r", false, "REST/JSON of google.devtools.artifactregistry"},
		{"GET", "/v1/projects/p/locations/l/operations/o", false, "REST/JSON of google.devtools.artifactregistry"},
		{"GET", "/v3/projects/p", false, "REST/JSON of google.cloud.resourcemanager"},
		{"POST", "/v3/projects/p/timeSeries", false, "REST/JSON of google.cloud.resourcemanager"},
		{"GET", "/v1/tokens", false, ""},
		{"GET", "/v22/", false, ""},
		{"GET", "/", false, ""},
	}
	for _, tt := range tests {
		m := route(table, request(tt.method, tt.path, tt.grpc))
		switch {
		case tt.want == "" && len(m) != 0:
			t.Errorf("%s %s (grpc %v) matches %q, want no route", tt.method, tt.path, tt.grpc, m[0].Pattern)
		case tt.want == "":
		case len(m) != 1:
			t.Errorf("%s %s (grpc %v) matches %d routes, want 1 (%s)", tt.method, tt.path, tt.grpc, len(m), tt.want)
		case len(m[0].API) < len(tt.want) || m[0].API[:len(tt.want)] != tt.want:
			t.Errorf("%s %s (grpc %v) routes to %q (%s), want %s", tt.method, tt.path, tt.grpc, m[0].Emulator, m[0].API, tt.want)
		}
	}
}

// FuzzRoutes checks that no request matches two routes.
func FuzzRoutes(f *testing.F) {
	for _, p := range []string{"/v2/a/b/c/manifests/x", "/v1/token", "/v1/projects/-/serviceAccounts/a:generateAccessToken", "/v1/projects/p/serviceAccounts/a:getIamPolicy", "/.well-known/jwks", "/actions/token", "/v1/endpoints"} {
		f.Add(p, false)
		f.Add(p, true)
	}
	table := tableForTest(f)
	f.Fuzz(func(t *testing.T, path string, grpc bool) {
		r := request("GET", "/", grpc)
		r.URL.Path = path
		if m := route(table, r); len(m) > 1 {
			t.Errorf("path %q (grpc %v) matches %d routes: %q and %q", path, grpc, len(m), m[0].Pattern, m[1].Pattern)
		}
	})
}
