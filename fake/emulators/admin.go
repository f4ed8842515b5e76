package emulators

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/twostage/twostage/fake/monitoringfake"
	"github.com/twostage/twostage/fake/stsfake"
	"github.com/twostage/twostage/internal/emulator"
)

// AdminPath is the root of the admin API: what a test sets up through Go
// calls (an STS provider, the GitHub claims, pending operations, failing
// images, monitoring samples), over plain HTTP and JSON for clients in any
// language. Google serves no path that starts with "/_", so it cannot hide
// an emulated API. GET AdminPath lists the methods.
const AdminPath = "/_admin/v1"

// adminMethod is one method of the admin API.
type adminMethod struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Body is the JSON request body, by example; empty for none.
	Body string `json:"body,omitempty"`
	// Does says what the method does and what it answers.
	Does string `json:"does"`

	serve func(s *Set, w http.ResponseWriter, r *http.Request) error
}

// adminMethods is the admin API.
func adminMethods() []adminMethod {
	return []adminMethod{
		{Method: "GET", Path: AdminPath, Does: "lists these methods", serve: func(s *Set, w http.ResponseWriter, _ *http.Request) error {
			emulator.WriteJSON(w, http.StatusOK, map[string]any{"methods": adminMethods()})
			return nil
		}},
		{Method: "GET", Path: AdminPath + "/github", Does: "answers the GitHub Actions token request: {requestURL, requestToken} (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN), and the issuer's {issuer, discoveryURL, jwksURL}",
			serve: func(s *Set, w http.ResponseWriter, _ *http.Request) error {
				emulator.WriteJSON(w, http.StatusOK, map[string]string{
					"requestURL": s.ActionsRequestURL(), "requestToken": s.sts.RequestToken(),
					"issuer": s.sts.IssuerURL(), "discoveryURL": s.OIDCDiscoveryURL(), "jwksURL": "http://" + s.Addr + "/.well-known/jwks",
				})
				return nil
			}},
		{Method: "PUT", Path: AdminPath + "/github/claims", Body: `{"repository": "octo/app", "repository_id": "42", "ref": "refs/heads/main", "event_name": "push", …}`,
			Does: "sets the claims of the tokens the Actions request URL issues (iss, aud, iat, exp are added)",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var claims map[string]any
				if err := decode(r, &claims); err != nil {
					return err
				}
				if len(claims) == 0 {
					return badRequest("the claims are empty; send a JSON object such as {\"repository\": \"octo/app\", \"ref\": \"refs/heads/main\"}")
				}
				s.sts.SetActionsClaims(claims)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/sts/providers", Body: `{"name": "projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID", "attributeMapping": {"google.subject": "assertion.sub"}, "attributeCondition": "…", "allowedAudiences": [], "issuerUri": "", "disabled": false}`,
			Does: "registers a provider with STS (providers created through the IAM API are found without it)",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var p stsfake.Provider
				if err := decode(r, &p); err != nil {
					return err
				}
				if err := s.sts.AddProvider(p); err != nil {
					return badRequest(err.Error())
				}
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/sts/impersonation", Body: `{"serviceAccount": "deployer@P.iam.gserviceaccount.com", "members": ["principalSet://iam.googleapis.com/…/attribute.stage/dev"]}`,
			Does: "lets the members impersonate the service account at IAM Credentials (roles/iam.workloadIdentityUser)",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var req struct {
					ServiceAccount string   `json:"serviceAccount"`
					Members        []string `json:"members"`
				}
				if err := decode(r, &req); err != nil {
					return err
				}
				if !strings.Contains(req.ServiceAccount, "@") || len(req.Members) == 0 {
					return badRequest("want {\"serviceAccount\": EMAIL, \"members\": [MEMBER, …]}")
				}
				s.sts.AllowImpersonation(req.ServiceAccount, req.Members...)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "PUT", Path: AdminPath + "/run/operations", Body: `{"manual": true}`,
			Does: "with manual true, Cloud Run operations stay pending until completed (POST …/run/operations:complete); false completes new ones at once",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var req struct {
					Manual *bool `json:"manual"`
				}
				if err := decode(r, &req); err != nil {
					return err
				}
				if req.Manual == nil {
					return badRequest("want {\"manual\": true} or {\"manual\": false}")
				}
				s.crun.SetManualOperations(*req.Manual)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/run/operations:complete", Does: "completes every pending Cloud Run operation; answers {completed: N}",
			serve: func(s *Set, w http.ResponseWriter, _ *http.Request) error {
				emulator.WriteJSON(w, http.StatusOK, map[string]int{"completed": s.crun.CompleteOperations()})
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/run/failing-images", Body: `{"image": "HOST/P/R/api@sha256:…", "message": "container failed to start"}`,
			Does: "makes every revision created from now on with this image fail to become ready; an empty message stops it",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var req struct{ Image, Message string }
				if err := decode(r, &req); err != nil {
					return err
				}
				if req.Image == "" {
					return badRequest("want {\"image\": IMAGE, \"message\": TEXT}")
				}
				s.crun.FailImage(req.Image, req.Message)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/monitoring/samples", Body: `{"samples": [{"project": "P", "location": "L", "service": "S", "revision": "S-00001-abc", "code": 200, "count": 100, "end": "2026-12-04T09:01:00Z"}]}`,
			Does: "adds run.googleapis.com/request_count samples to Cloud Monitoring",
			serve: func(s *Set, w http.ResponseWriter, r *http.Request) error {
				var req struct {
					Samples []struct {
						Project, Location, Service, Revision string
						Code                                 int
						Count                                int64
						End                                  time.Time
					} `json:"samples"`
				}
				if err := decode(r, &req); err != nil {
					return err
				}
				var out []monitoringfake.Sample
				for i, x := range req.Samples {
					if x.Project == "" || x.Service == "" || x.Revision == "" || x.Code < 100 || x.Code > 599 || x.Count < 0 || x.End.IsZero() {
						return badRequest(fmt.Sprintf("samples[%d]: want project, location, service, revision, code (100 to 599), count (≥ 0) and end (RFC 3339)", i))
					}
					out = append(out, monitoringfake.Sample{Project: x.Project, Location: x.Location, Service: x.Service, Revision: x.Revision, Code: x.Code, Count: x.Count, End: x.End})
				}
				s.mon.Add(out...)
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
		{Method: "POST", Path: AdminPath + "/reset", Does: "empties every emulator's request log (the state of services, images and identities stays: restart the emulator for a clean one)",
			serve: func(s *Set, w http.ResponseWriter, _ *http.Request) error {
				s.crun.ResetRequests()
				s.ar.ResetRequests()
				s.rm.ResetRequests()
				s.iam.ResetRequests()
				s.sts.ResetRequests()
				s.mon.ResetRequests()
				w.WriteHeader(http.StatusNoContent)
				return nil
			}},
	}
}

// badRequestError is an admin request the caller must fix.
type badRequestError string

func (e badRequestError) Error() string { return string(e) }

func badRequest(msg string) error { return badRequestError(msg) }

// maxAdminBody bounds an admin request body.
const maxAdminBody = 1 << 20

// decode reads r's JSON body into v, refusing unknown fields.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this method takes (GET " + AdminPath + " shows it): " + err.Error())
	}
	return nil
}

// serveAdmin dispatches an admin request.
func (s *Set) serveAdmin(w http.ResponseWriter, r *http.Request) {
	for _, m := range adminMethods() {
		if m.Path != r.URL.Path {
			continue
		}
		if m.Method != r.Method {
			continue
		}
		if err := m.serve(s, w, r); err != nil {
			code, status := http.StatusInternalServerError, "INTERNAL"
			if bad := badRequestError(""); errors.As(err, &bad) {
				code, status = http.StatusBadRequest, "INVALID_ARGUMENT"
			}
			writeError(w, code, status, "emulators admin: "+r.Method+" "+r.URL.Path+": "+err.Error())
		}
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "emulators admin: %s %s is not an admin method; methods:", r.Method, r.URL.Path)
	for _, m := range adminMethods() {
		fmt.Fprintf(&b, "\n  %s %s", m.Method, m.Path)
	}
	writeError(w, http.StatusNotFound, "NOT_FOUND", b.String())
}
