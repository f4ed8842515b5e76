package iamfake

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/twostage/twostage/internal/emulator"
)

// ServeHTTP routes a request of the IAM v1 REST surface.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErr(w, errorf(http.StatusNotFound, "iamfake: %s %s is not an IAM v1 path", r.Method, r.URL.Path))
		return
	}
	_, handler := s.route(r.Method, path)
	if handler == nil {
		writeErr(w, errorf(http.StatusNotImplemented, "iamfake: %s %s is not implemented by the emulator (supported: workloadIdentityPools and providers create/get/patch/list, their operations.get, serviceAccounts getIamPolicy/setIamPolicy)", r.Method, r.URL.Path))
		return
	}
	code, v, e := handler(r)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, code, v)
}

// methodOf names the emulated method of r, or "".
func (s *server) methodOf(r *http.Request) string {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		return ""
	}
	method, _ := s.route(r.Method, path)
	return method
}

type handlerFunc func(r *http.Request) (int, any, *httpErr)

// route maps METHOD + path (without "/v1/") to a discovery-style method name
// and its handler, or nil.
func (s *server) route(verb, path string) (string, handlerFunc) {
	// Service accounts: projects/P/serviceAccounts/EMAIL:getIamPolicy
	if before, action, ok := strings.Cut(path, ":"); ok {
		seg := strings.Split(before, "/")
		if verb == http.MethodPost && len(seg) == 4 && seg[0] == "projects" && seg[2] == "serviceAccounts" {
			email := seg[3]
			switch action {
			case "getIamPolicy":
				return "serviceAccounts.getIamPolicy", func(r *http.Request) (int, any, *httpErr) { return s.saGetPolicy(r, email) }
			case "setIamPolicy":
				return "serviceAccounts.setIamPolicy", func(r *http.Request) (int, any, *httpErr) { return s.saSetPolicy(r, email) }
			}
		}
		return "", nil
	}
	seg := strings.Split(path, "/")
	// projects/P/locations/global/workloadIdentityPools[/POOL[/providers[/PROV]][/operations/OP]]
	if len(seg) < 5 || seg[0] != "projects" || seg[2] != "locations" || seg[4] != "workloadIdentityPools" {
		return "", nil
	}
	if seg[3] != "global" {
		return "", nil
	}
	parent := strings.Join(seg[:4], "/")
	switch {
	case len(seg) == 5 && verb == http.MethodPost:
		return "workloadIdentityPools.create", func(r *http.Request) (int, any, *httpErr) { return s.createPool(r, parent) }
	case len(seg) == 5 && verb == http.MethodGet:
		return "workloadIdentityPools.list", func(r *http.Request) (int, any, *httpErr) { return s.listPools(r, parent) }
	case len(seg) == 6 && verb == http.MethodGet:
		return "workloadIdentityPools.get", func(*http.Request) (int, any, *httpErr) { return s.getPool(path) }
	case len(seg) == 6 && verb == http.MethodPatch:
		return "workloadIdentityPools.patch", func(r *http.Request) (int, any, *httpErr) { return s.patchPool(r, path) }
	case len(seg) == 8 && seg[6] == "operations" && verb == http.MethodGet:
		return "workloadIdentityPools.operations.get", func(*http.Request) (int, any, *httpErr) { return s.getOperation(path) }
	case len(seg) == 7 && seg[6] == "providers" && verb == http.MethodPost:
		pool := strings.Join(seg[:6], "/")
		return "providers.create", func(r *http.Request) (int, any, *httpErr) { return s.createProvider(r, pool) }
	case len(seg) == 7 && seg[6] == "providers" && verb == http.MethodGet:
		pool := strings.Join(seg[:6], "/")
		return "providers.list", func(r *http.Request) (int, any, *httpErr) { return s.listProviders(r, pool) }
	case len(seg) == 8 && seg[6] == "providers" && verb == http.MethodGet:
		return "providers.get", func(*http.Request) (int, any, *httpErr) { return s.getProvider(path) }
	case len(seg) == 8 && seg[6] == "providers" && verb == http.MethodPatch:
		return "providers.patch", func(r *http.Request) (int, any, *httpErr) { return s.patchProvider(r, path) }
	case len(seg) == 10 && seg[6] == "providers" && seg[8] == "operations" && verb == http.MethodGet:
		return "providers.operations.get", func(*http.Request) (int, any, *httpErr) { return s.getOperation(path) }
	}
	return "", nil
}

func decode(r *http.Request, v any) *httpErr {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		if emulator.TooLarge(err) {
			return &httpErr{code: http.StatusRequestEntityTooLarge}
		}
		return errorf(http.StatusBadRequest, "invalid JSON payload: %v", err)
	}
	return nil
}
