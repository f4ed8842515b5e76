package provision

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twostage/twostage/wif"
)

// SimResult is what [Simulate] found a token would get.
type SimResult struct {
	// Mapping is the provider's mapping of the token ([Evaluate]).
	Mapping Mapping
	// Accepted reports whether STS would exchange the token.
	Accepted bool
	// Reason says why it would not; empty when Accepted.
	Reason string
	// Principals are the IAM identifiers the resulting identity matches:
	// its principal://…/subject/…, a principalSet://…/attribute.NAME/VALUE
	// per custom attribute, …/group/GROUP per group, and …/*. Empty when
	// not Accepted.
	Principals []string
	// Bindings are the setup's bindings whose member is one of Principals,
	// in declaration order: what the token could do once exchanged.
	Bindings []Binding
}

// Roles returns "ROLE on KIND NAME" for each applying binding.
func (r SimResult) Roles() []string {
	var out []string
	for _, b := range r.Bindings {
		out = append(out, b.Role+" on "+b.Resource.String())
	}
	return out
}

// Simulate plays a token with claims against the setup offline: the issuer
// and audience checks STS makes when the claims carry iss and aud (the
// signature and expiry are not checked), the provider's mapping and
// condition ([Evaluate]), and then which of the setup's bindings name the
// resulting identity. It returns an error only when the provider itself is
// malformed.
func Simulate(s Setup, claims wif.Claims) (SimResult, error) {
	m, err := Evaluate(s.Provider, claims)
	if err != nil {
		return SimResult{}, fmt.Errorf("wif: simulating: %w", err)
	}
	r := SimResult{Mapping: m, Accepted: m.Accepted, Reason: m.Reason}
	if s.Pool.Disabled {
		// "You cannot use a disabled pool to exchange tokens, or use existing
		// tokens to access resources." (iam/v1 WorkloadIdentityPool.disabled)
		r.Accepted, r.Reason = false, fmt.Sprintf("pool %q is disabled", s.Pool.ID)
	} else if iss, ok := claims["iss"]; ok && iss != s.Provider.IssuerURI() {
		r.Accepted, r.Reason = false, fmt.Sprintf("issuer %v is not the provider's %q", iss, s.Provider.IssuerURI())
	} else if aud, ok := claims["aud"]; ok && !audienceAllowed(aud, s.Provider.TokenAudiences()) {
		r.Accepted, r.Reason = false, fmt.Sprintf("audience %v is not one of %q", aud, s.Provider.TokenAudiences())
	}
	if !r.Accepted {
		return r, nil
	}
	r.Principals = principalsOf(s.Pool, m)
	for _, b := range s.Bindings {
		if slices.Contains(r.Principals, b.Member) {
			r.Bindings = append(r.Bindings, b)
		}
	}
	return r, nil
}

// audienceAllowed reports whether a token's aud claim (a string or a list)
// names one of allowed.
func audienceAllowed(aud any, allowed []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(allowed, a)
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && slices.Contains(allowed, s) {
				return true
			}
		}
	case []string:
		for _, s := range a {
			if slices.Contains(allowed, s) {
				return true
			}
		}
	}
	return false
}

// principalsOf lists the identifiers an identity with mapping m matches.
func principalsOf(pool wif.Pool, m Mapping) []string {
	out := []string{wif.SubjectPrincipal(pool, m.Subject()).String()}
	for _, k := range sortedKeys(m.Attributes) {
		if name, ok := strings.CutPrefix(k, "attribute."); ok {
			out = append(out, wif.AttributePrincipal(pool, name, m.Attributes[k]).String())
		}
	}
	for _, g := range m.Groups {
		out = append(out, wif.GroupPrincipal(pool, g).String())
	}
	return append(out, wif.AllPrincipals(pool).String())
}
