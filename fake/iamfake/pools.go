package iamfake

import (
	"encoding/base64"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	iam "google.golang.org/api/iam/v1"
)

// charsIn reports whether s is min..max bytes, each in allowed.
func charsIn(s string, minLen, maxLen int, allowed string) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte(allowed, c) >= 0) {
			return false
		}
	}
	return true
}

// validID checks a pool or provider ID: "4-32 characters, and may contain
// the characters [a-z0-9-]. The prefix gcp- is reserved for use by Google"
// (iam/v1 WorkloadIdentityPoolId, WorkloadIdentityPoolProviderId).
func validID(kind, id string) *httpErr {
	if !charsIn(id, 4, 32, "-") {
		return errorf(http.StatusBadRequest, "%s ID %q must be 4-32 characters of [a-z0-9-]", kind, id)
	}
	if strings.HasPrefix(id, "gcp-") {
		return errorf(http.StatusBadRequest, "%s ID %q: the prefix gcp- is reserved for use by Google", kind, id)
	}
	return nil
}

func (s *server) createPool(r *http.Request, parent string) (int, any, *httpErr) {
	id := r.URL.Query().Get("workloadIdentityPoolId")
	if e := validID("pool", id); e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPool
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkPool(&in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.canonical(parent) + "/workloadIdentityPools/" + id
	if s.pools[name] != nil || s.pendingCreate(name) {
		return 0, nil, errorf(http.StatusConflict, "Requested entity already exists")
	}
	p := &iam.WorkloadIdentityPool{Name: name, DisplayName: in.DisplayName, Description: in.Description, Disabled: in.Disabled, State: "ACTIVE"}
	return http.StatusOK, s.newOperation(name, func() any {
		s.pools[name] = p
		return clonePool(p)
	}), nil
}

// pendingCreate reports whether a create of name is in flight. Callers
// hold mu.
func (s *server) pendingCreate(name string) bool {
	for opName, op := range s.ops {
		if !op.op.Done && strings.HasPrefix(opName, name+"/operations/") {
			return true
		}
	}
	return false
}

// checkPool applies the documented limits: "Cannot exceed 32 characters"
// (displayName) and 256 (description) (iam/v1 WorkloadIdentityPool).
func checkPool(p *iam.WorkloadIdentityPool) *httpErr {
	if len(p.DisplayName) > 32 {
		return errorf(http.StatusBadRequest, "display name %q exceeds 32 characters", p.DisplayName)
	}
	if len(p.Description) > 256 {
		return errorf(http.StatusBadRequest, "description exceeds 256 characters")
	}
	return nil
}

func (s *server) getPool(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pools[s.canonical(name)]
	if p == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	return http.StatusOK, clonePool(p), nil
}

func updateMask(r *http.Request) ([]string, *httpErr) {
	m := r.URL.Query().Get("updateMask")
	if m == "" {
		return nil, errorf(http.StatusBadRequest, "updateMask is required")
	}
	return strings.Split(m, ","), nil
}

func (s *server) patchPool(r *http.Request, name string) (int, any, *httpErr) {
	mask, e := updateMask(r)
	if e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPool
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkPool(&in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name = s.canonical(name)
	cur := s.pools[name]
	if cur == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	next := clonePool(cur)
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "displayName", "display_name":
			next.DisplayName = in.DisplayName
		case "description":
			next.Description = in.Description
		case "disabled":
			next.Disabled = in.Disabled
		default:
			return 0, nil, errorf(http.StatusBadRequest, "updateMask field %q cannot be updated on a pool (displayName, description, disabled)", f)
		}
	}
	return http.StatusOK, s.newOperation(name, func() any {
		s.pools[name] = next
		return clonePool(next)
	}), nil
}

// page cuts names (sorted) into a page after token; the token is the
// last name of the previous page, base64-encoded.
func page(r *http.Request, names []string) ([]string, string, *httpErr) {
	sort.Strings(names)
	size := 50 // "If unspecified, at most 50 pools are returned."
	if v := r.URL.Query().Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, "", errorf(http.StatusBadRequest, "pageSize %q is not a non-negative integer", v)
		}
		if n > 0 {
			size = min(n, 1000) // "The maximum value is 1000"
		}
	}
	start := 0
	if t := r.URL.Query().Get("pageToken"); t != "" {
		after, err := base64.RawURLEncoding.DecodeString(t)
		if err != nil {
			return nil, "", errorf(http.StatusBadRequest, "invalid pageToken %q", t)
		}
		start, _ = slices.BinarySearch(names, string(after)+"\x00")
	}
	end := min(start+size, len(names))
	out := names[start:end]
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1]))
	}
	return out, next, nil
}

func (s *server) listPools(r *http.Request, parent string) (int, any, *httpErr) {
	// showDeleted changes nothing: the emulator has no delete, so nothing
	// is ever soft-deleted.
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := s.canonical(parent) + "/workloadIdentityPools/"
	var names []string
	for n := range s.pools {
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	got, next, e := page(r, names)
	if e != nil {
		return 0, nil, e
	}
	resp := &iam.ListWorkloadIdentityPoolsResponse{NextPageToken: next}
	for _, n := range got {
		resp.WorkloadIdentityPools = append(resp.WorkloadIdentityPools, clonePool(s.pools[n]))
	}
	return http.StatusOK, resp, nil
}
