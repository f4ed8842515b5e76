package iamfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	iam "google.golang.org/api/iam/v1"
)

type saPolicy struct {
	project string
	policy  *iam.Policy
}

// account finds a service account by email; the project segment may be
// "-" ("projects/-/serviceAccounts/EMAIL" infers the project).
func (s *server) account(email string) (*saPolicy, *httpErr) {
	a := s.accounts[email]
	if a == nil {
		return nil, errorf(http.StatusNotFound, "Service account projects/-/serviceAccounts/%s does not exist.", email)
	}
	return a, nil
}

func policyVersion(p *iam.Policy) int64 {
	for _, b := range p.Bindings {
		if b.Condition != nil {
			return 3
		}
	}
	return 1
}

func (s *server) saGetPolicy(r *http.Request, email string) (int, any, *httpErr) {
	v := int64(0)
	if q := r.URL.Query().Get("options.requestedPolicyVersion"); q != "" {
		n, err := strconv.ParseInt(q, 10, 64)
		if err != nil || (n != 0 && n != 1 && n != 3) {
			return 0, nil, errorf(http.StatusBadRequest, "invalid requested policy version %q: valid values are 0, 1 and 3", q)
		}
		v = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.account(email)
	if e != nil {
		return 0, nil, e
	}
	out := clonePolicy(a.policy)
	if out.Version == 3 && v < 3 {
		// Requests for policies with conditional role bindings must specify
		// version 3 (iam/v1 OptionsRequestedPolicyVersion); the emulator
		// refuses rather than imitating the undocumented role renaming.
		return 0, nil, errorf(http.StatusBadRequest, "the policy of %s has conditional role bindings: request policy version 3", email)
	}
	return http.StatusOK, out, nil
}

func (s *server) saSetPolicy(r *http.Request, email string) (int, any, *httpErr) {
	var in iam.SetIamPolicyRequest
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if in.Policy == nil {
		return 0, nil, errorf(http.StatusBadRequest, "policy is required")
	}
	p := in.Policy
	if p.Version != 0 && p.Version != 1 && p.Version != 3 {
		return 0, nil, errorf(http.StatusBadRequest, "invalid policy version %d: valid values are 0, 1 and 3", p.Version)
	}
	for i, b := range p.Bindings {
		if !strings.HasPrefix(b.Role, "roles/") && !strings.HasPrefix(b.Role, "projects/") && !strings.HasPrefix(b.Role, "organizations/") {
			return 0, nil, errorf(http.StatusBadRequest, "binding %d: role %q is not a role name", i, b.Role)
		}
		if len(b.Members) == 0 {
			return 0, nil, errorf(http.StatusBadRequest, "binding %d (%s) has no members: each binding must contain at least one principal", i, b.Role)
		}
		if b.Condition != nil && p.Version != 3 {
			return 0, nil, errorf(http.StatusBadRequest, "policy version %d cannot contain conditional role bindings: set version 3", p.Version)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.account(email)
	if e != nil {
		return 0, nil, e
	}
	if p.Etag != "" && p.Etag != a.policy.Etag {
		return 0, nil, &httpErr{code: http.StatusConflict, status: "ABORTED", msg: ConcurrentChangeMessage}
	}
	next := clonePolicy(p)
	next.Etag = s.nextEtag()
	next.Version = policyVersion(next)
	next.AuditConfigs = a.policy.AuditConfigs
	a.policy = next
	return http.StatusOK, clonePolicy(next), nil
}

// clone helpers: a JSON round trip keeps them short and deep.
func cloneJSON[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("iamfake: cloning %T: %v", v, err))
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("iamfake: cloning %T: %v", v, err))
	}
	return out
}

func clonePool(p *iam.WorkloadIdentityPool) *iam.WorkloadIdentityPool { return cloneJSON(p) }
func cloneProvider(p *iam.WorkloadIdentityPoolProvider) *iam.WorkloadIdentityPoolProvider {
	return cloneJSON(p)
}
func clonePolicy(p *iam.Policy) *iam.Policy   { return cloneJSON(p) }
func cloneOp(o *iam.Operation) *iam.Operation { return cloneJSON(o) }
