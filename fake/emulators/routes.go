package emulators

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// Route is one row of the routing table of a [Set]: which requests reach
// which emulator on the shared address.
type Route struct {
	// Pattern describes the requests, such as "/v2/…" or
	// "Content-Type: application/grpc*".
	Pattern string
	// Emulator names the package that answers them.
	Emulator string
	// API is what the emulator serves there.
	API string

	match   func(r *http.Request) bool
	handler http.Handler
}

// isGRPC reports whether r is a gRPC call: HTTP/2 with a Content-Type of
// application/grpc or application/grpc+FORMAT.
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// isRunHost reports whether host (a Host header) is a Cloud Run URL's,
// "….run.app": such requests go to the services themselves, through the
// Cloud Run emulator's data plane, whatever their path.
func isRunHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	return host == "run.app" || strings.HasSuffix(host, ".run.app")
}

// isAPI reports whether r is a plain HTTP request to an emulated API (not
// gRPC, not to a service URL).
func isAPI(r *http.Request) bool { return !isGRPC(r) && !isRunHost(r.Host) }

// isCredentials reports whether path is an IAM Credentials method,
// "/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken" and its
// siblings (iamcredentials.googleapis.com, which shares "/v1/projects/"
// with the IAM API but is told apart by its method suffix).
func isCredentials(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1/projects/")
	if !ok || !strings.Contains(rest, "/serviceAccounts/") {
		return false
	}
	for _, m := range []string{":generateAccessToken", ":generateIdToken", ":signBlob", ":signJwt"} {
		if strings.HasSuffix(rest, m) {
			return true
		}
	}
	return false
}

// isRunREST reports whether path is on Cloud Run's REST surface,
// "/v2/projects/…" (services, revisions, operations), which the OCI
// registry's "/v2/NAME/…" must not answer: Artifact Registry repository
// paths have the form LOCATION-docker.pkg.dev/PROJECT/REPO/…, whose
// project never sits under a "projects" segment on the registry host.
func isRunREST(path string) bool { return strings.HasPrefix(path, "/v2/projects/") }

// isARREST reports whether path is on Artifact Registry's REST surface:
// "/v1/projects/…" other than IAM's and IAM Credentials'
// (repositories, packages, versions, tags, files, docker images, its
// operations, project settings, locations).
func isARREST(path string) bool {
	return strings.HasPrefix(path, "/v1/projects/") && !isIAM(path) && !isCredentials(path)
}

// isV3REST reports whether path is on the REST surface of Resource Manager
// v3 ("/v3/projects…") or Cloud Monitoring v3 ("/v3/projects/P/timeSeries",
// metricDescriptors, monitoredResourceDescriptors), which one transcoder
// tells apart by their google.api.http rules.
func isV3REST(path string) bool { return strings.HasPrefix(path, "/v3/") }

// isIAM reports whether path is one of the IAM v1 REST surface iamfake
// serves: workload identity pools (and their providers and operations) and
// service accounts, but not IAM Credentials. Other /v1/projects/… paths
// (Artifact Registry's REST surface) answer the router's 404.
func isIAM(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1/projects/")
	if !ok || isCredentials(path) {
		return false
	}
	seg := strings.Split(rest, "/")
	return len(seg) >= 3 && (seg[1] == "serviceAccounts" ||
		len(seg) >= 4 && seg[1] == "locations" && strings.HasPrefix(seg[3], "workloadIdentityPools"))
}

// notFound answers a request no route (or, on a REST surface, no REST
// method) matches: HTTP 404 naming the routes.
func (s *Set) notFound(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	fmt.Fprintf(&b, "emulators: %s %s is not emulated; routes:", r.Method, r.URL.Path)
	for _, rt := range s.table {
		fmt.Fprintf(&b, "\n  %s → %s (%s)", rt.Pattern, rt.Emulator, rt.API)
	}
	writeError(w, http.StatusNotFound, "NOT_FOUND", b.String())
}

// routes is the routing table. The matchers are disjoint: no request
// matches two routes (TestRoutesDisjoint, FuzzRoutes), so their order does
// not matter.
func (s *Set) routes() []Route {
	sts := s.sts.Handler()
	return []Route{
		{
			Pattern: "Content-Type: application/grpc* (HTTP/2), any path", Emulator: "cloudrunfake, artifactregistryfake, resourcemanagerfake, monitoringfake",
			API:   "gRPC: google.cloud.run.v2.Services and Revisions, google.devtools.artifactregistry.v1.ArtifactRegistry, google.cloud.resourcemanager.v3.Projects, google.monitoring.v3.MetricService, google.longrunning.Operations",
			match: isGRPC, handler: s.grpc,
		},
		{
			Pattern: "Host: ….run.app, any path", Emulator: "cloudrunfake",
			API:   "the Cloud Run data plane: requests to service and tag URLs, routed by the traffic split",
			match: func(r *http.Request) bool { return !isGRPC(r) && isRunHost(r.Host) }, handler: s.crun.DataPlane(),
		},
		{
			Pattern: "/v2/… (not /v2/projects/…)", Emulator: "artifactregistryfake", API: "OCI distribution registry (docker push/pull, ggcr remote)",
			match: func(r *http.Request) bool {
				// /v2/projects/… is Cloud Run's REST surface: the registry's
				// NAME_UNKNOWN there would read as the service's NOT_FOUND.
				return isAPI(r) && (r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/")) && !isRunREST(r.URL.Path)
			},
			handler: s.ar.OCIHandler(),
		},
		{
			Pattern: "/v2/projects/P/locations/L/… (services, revisions, operations)", Emulator: "cloudrunfake",
			API:   "REST/JSON of google.cloud.run.v2 Services and Revisions and their operations, transcoded to gRPC",
			match: func(r *http.Request) bool { return isAPI(r) && isRunREST(r.URL.Path) }, handler: s.rest,
		},
		{
			Pattern: "/v1/projects/P/… (other than IAM and IAM Credentials)", Emulator: "artifactregistryfake",
			API:   "REST/JSON of google.devtools.artifactregistry.v1 (repositories, packages, versions, tags, docker images, operations), transcoded to gRPC",
			match: func(r *http.Request) bool { return isAPI(r) && isARREST(r.URL.Path) }, handler: s.rest,
		},
		{
			Pattern: "/v3/… (projects, projects/P/timeSeries, metricDescriptors, …)", Emulator: "resourcemanagerfake, monitoringfake",
			API:   "REST/JSON of google.cloud.resourcemanager.v3.Projects and google.monitoring.v3.MetricService, transcoded to gRPC",
			match: func(r *http.Request) bool { return isAPI(r) && isV3REST(r.URL.Path) }, handler: s.rest,
		},
		{
			Pattern: "/v1/token", Emulator: "stsfake", API: "Security Token Service token exchange",
			match:   func(r *http.Request) bool { return isAPI(r) && r.URL.Path == "/v1/token" },
			handler: sts,
		},
		{
			Pattern: "/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken (and :generateIdToken, :signBlob, :signJwt)", Emulator: "stsfake", API: "IAM Credentials",
			match:   func(r *http.Request) bool { return isAPI(r) && isCredentials(r.URL.Path) },
			handler: sts,
		},
		{
			Pattern: "/.well-known/…", Emulator: "stsfake", API: "OIDC issuer discovery and JWKS",
			match:   func(r *http.Request) bool { return isAPI(r) && strings.HasPrefix(r.URL.Path, "/.well-known/") },
			handler: sts,
		},
		{
			Pattern: "/actions/token", Emulator: "stsfake", API: "GitHub Actions ID token request",
			match:   func(r *http.Request) bool { return isAPI(r) && r.URL.Path == "/actions/token" },
			handler: sts,
		},
		{
			Pattern: "/v1/projects/P/locations/global/workloadIdentityPools… and /v1/projects/P/serviceAccounts/… (other than IAM Credentials)", Emulator: "iamfake",
			API:     "IAM v1 REST: workload identity pools, providers, their operations; service-account getIamPolicy/setIamPolicy",
			match:   func(r *http.Request) bool { return isAPI(r) && isIAM(r.URL.Path) },
			handler: s.iam.Handler(),
		},
		{
			Pattern: AdminPath + "…", Emulator: "emulators", API: "the admin API: set up STS providers, GitHub claims, pending operations, failing images, monitoring samples over HTTP+JSON (GET " + AdminPath + " lists it)",
			match: func(r *http.Request) bool {
				return isAPI(r) && (r.URL.Path == AdminPath || strings.HasPrefix(r.URL.Path, AdminPath+"/"))
			},
			handler: http.HandlerFunc(s.serveAdmin),
		},
		{
			Pattern: "GET " + DiscoveryPath, Emulator: "emulators", API: "the addresses of every API, as JSON (Endpoints)",
			match:   func(r *http.Request) bool { return isAPI(r) && r.URL.Path == DiscoveryPath },
			handler: http.HandlerFunc(s.serveEndpoints),
		},
	}
}

// Routes returns the routing table of the shared address. Requests no
// route matches answer HTTP 404 with the table.
func (s *Set) Routes() []Route {
	out := make([]Route, len(s.table))
	for i, r := range s.table {
		out[i] = Route{Pattern: r.Pattern, Emulator: r.Emulator, API: r.API}
	}
	return out
}

// route returns the routes r matches.
func route(table []Route, r *http.Request) []Route {
	var out []Route
	for _, rt := range table {
		if rt.match(r) {
			out = append(out, rt)
		}
	}
	return out
}

// ServeHTTP dispatches a request by the routing table.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		http.Error(w, "emulators: shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.inflight.Done()
	switch m := route(s.table, r); len(m) {
	case 1:
		m[0].handler.ServeHTTP(w, r)
	case 0:
		s.notFound(w, r)
	default:
		// Unreachable while the matchers are disjoint (TestRoutesDisjoint).
		writeError(w, http.StatusInternalServerError, "INTERNAL", fmt.Sprintf("emulators: %s matches %d routes", r.URL.Path, len(m)))
	}
}

// writeError answers in the JSON error shape of Google REST APIs.
func writeError(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "status": status, "message": msg}})
}
