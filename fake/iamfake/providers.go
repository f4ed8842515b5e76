package iamfake

import (
	"net/http"
	"slices"
	"strings"

	iam "google.golang.org/api/iam/v1"
)

// checkProvider applies the documented rules of an OIDC provider
// (iam/v1 WorkloadIdentityPoolProvider): a mapping that includes
// google.subject; custom attribute keys of [a-z0-9_] up to 100 characters,
// at most 50 of them; mapping expressions up to 2048 characters; a condition
// up to 4096 characters; and, because "multi-tenant identity providers (such
// as GitHub or Terraform Cloud) require an attribute_condition", a condition
// when the issuer is GitHub's (the error text is unverified).
func checkProvider(p *iam.WorkloadIdentityPoolProvider, mask []string) *httpErr {
	has := func(f string) bool { return mask == nil || slices.Contains(mask, f) }
	if has("oidc") || has("oidc.issuerUri") {
		if p.Oidc == nil || p.Oidc.IssuerUri == "" {
			return errorf(http.StatusBadRequest, "provider must set oidc.issuerUri (the emulator supports OIDC providers only)")
		}
		if !strings.HasPrefix(p.Oidc.IssuerUri, "https://") {
			return errorf(http.StatusBadRequest, "oidc.issuerUri %q must be an https URL", p.Oidc.IssuerUri)
		}
	}
	if has("attributeMapping") {
		if _, ok := p.AttributeMapping["google.subject"]; !ok {
			return errorf(http.StatusBadRequest, "attributeMapping must include google.subject for an OIDC provider")
		}
		custom := 0
		for k, v := range p.AttributeMapping {
			if len(v) > 2048 {
				return errorf(http.StatusBadRequest, "attributeMapping[%q] exceeds 2048 characters", k)
			}
			switch k {
			case "google.subject", "google.groups", "google.display_name", "google.profile_photo", "google.posix_username":
				continue
			}
			a, ok := strings.CutPrefix(k, "attribute.")
			if !ok || !charsIn(a, 1, 100, "_") {
				return errorf(http.StatusBadRequest, "attributeMapping key %q must be google.subject, google.groups or attribute.NAME with NAME of [a-z0-9_] (at most 100)", k)
			}
			custom++
		}
		if custom > 50 {
			return errorf(http.StatusBadRequest, "attributeMapping defines %d custom attributes; the maximum is 50", custom)
		}
	}
	if len(p.AttributeCondition) > 4096 {
		return errorf(http.StatusBadRequest, "attributeCondition exceeds 4096 characters")
	}
	if mask == nil && p.Oidc != nil && p.Oidc.IssuerUri == GitHubIssuer && strings.TrimSpace(p.AttributeCondition) == "" {
		return errorf(http.StatusBadRequest, "The attribute condition must be provided for the issuer %s (multi-tenant identity providers require an attribute condition)", GitHubIssuer)
	}
	if len(p.DisplayName) > 32 {
		return errorf(http.StatusBadRequest, "display name %q exceeds 32 characters", p.DisplayName)
	}
	return nil
}

func (s *server) createProvider(r *http.Request, pool string) (int, any, *httpErr) {
	id := r.URL.Query().Get("workloadIdentityPoolProviderId")
	if e := validID("provider", id); e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPoolProvider
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	if e := checkProvider(&in, nil); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pool = s.canonical(pool)
	if s.pools[pool] == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found. (pool %s does not exist)", pool)
	}
	name := pool + "/providers/" + id
	if s.providers[name] != nil || s.pendingCreate(name) {
		return 0, nil, errorf(http.StatusConflict, "Requested entity already exists")
	}
	p := cloneProvider(&in)
	p.Name, p.State = name, "ACTIVE"
	return http.StatusOK, s.newOperation(name, func() any {
		s.providers[name] = p
		return cloneProvider(p)
	}), nil
}

func (s *server) getProvider(name string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.providers[s.canonical(name)]
	if p == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	return http.StatusOK, cloneProvider(p), nil
}

func (s *server) patchProvider(r *http.Request, name string) (int, any, *httpErr) {
	mask, e := updateMask(r)
	if e != nil {
		return 0, nil, e
	}
	var in iam.WorkloadIdentityPoolProvider
	if e := decode(r, &in); e != nil {
		return 0, nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name = s.canonical(name)
	cur := s.providers[name]
	if cur == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	next := cloneProvider(cur)
	for _, f := range mask {
		switch strings.TrimSpace(f) {
		case "displayName", "display_name":
			next.DisplayName = in.DisplayName
		case "description":
			next.Description = in.Description
		case "disabled":
			next.Disabled = in.Disabled
		case "attributeMapping", "attribute_mapping":
			next.AttributeMapping = in.AttributeMapping
		case "attributeCondition", "attribute_condition":
			next.AttributeCondition = in.AttributeCondition
		case "oidc":
			next.Oidc = in.Oidc
		case "oidc.allowedAudiences", "oidc.allowed_audiences":
			if next.Oidc == nil {
				next.Oidc = &iam.Oidc{}
			}
			if in.Oidc != nil {
				next.Oidc.AllowedAudiences = in.Oidc.AllowedAudiences
			} else {
				next.Oidc.AllowedAudiences = nil
			}
		case "oidc.issuerUri", "oidc.issuer_uri":
			if next.Oidc == nil {
				next.Oidc = &iam.Oidc{}
			}
			if in.Oidc != nil {
				next.Oidc.IssuerUri = in.Oidc.IssuerUri
			}
		default:
			return 0, nil, errorf(http.StatusBadRequest, "updateMask field %q cannot be updated on a provider", f)
		}
	}
	// The result must still be a valid provider (a patch cannot drop the
	// condition of a GitHub provider either).
	if e := checkProvider(next, nil); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, s.newOperation(name, func() any {
		s.providers[name] = next
		return cloneProvider(next)
	}), nil
}

func (s *server) listProviders(r *http.Request, pool string) (int, any, *httpErr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pool = s.canonical(pool)
	if s.pools[pool] == nil {
		return 0, nil, errorf(http.StatusNotFound, "Requested entity was not found.")
	}
	var names []string
	for n := range s.providers {
		if strings.HasPrefix(n, pool+"/providers/") {
			names = append(names, n)
		}
	}
	got, next, e := page(r, names)
	if e != nil {
		return 0, nil, e
	}
	resp := &iam.ListWorkloadIdentityPoolProvidersResponse{NextPageToken: next}
	for _, n := range got {
		resp.WorkloadIdentityPoolProviders = append(resp.WorkloadIdentityPoolProviders, cloneProvider(s.providers[n]))
	}
	return http.StatusOK, resp, nil
}
