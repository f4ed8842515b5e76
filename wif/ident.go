package wif

import (
	"fmt"
	"strings"

	"github.com/twostage/twostage"
	"github.com/twostage/twostage/wif/internal/syntax"
)

// Prefixes of the identifiers IAM uses for federated identities (IAM
// "Principal identifiers" documentation; see also the IAM v1
// attributeMapping field documentation, which lists the subject, group and
// attribute forms).
const (
	principalPrefix    = "principal://iam.googleapis.com/"
	principalSetPrefix = "principalSet://iam.googleapis.com/"
	audiencePrefix     = "//iam.googleapis.com/"
	httpsAudiencePref  = "https://iam.googleapis.com/"
)

// PrincipalKind is the form of a federated principal identifier.
type PrincipalKind string

const (
	// KindSubject is a single identity,
	// principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/subject/SUBJECT.
	KindSubject PrincipalKind = "subject"
	// KindAttribute is every identity whose custom attribute NAME has VALUE,
	// principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/attribute.NAME/VALUE.
	KindAttribute PrincipalKind = "attribute"
	// KindGroup is every identity whose google.groups contains GROUP,
	// principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/group/GROUP.
	KindGroup PrincipalKind = "group"
	// KindAll is every identity of the pool,
	// principalSet://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/*.
	// It parses, but a binding to it is never safe with GitHub's shared
	// issuer; see [Principal.Wildcard].
	KindAll PrincipalKind = "all"
)

// IsSet reports whether the kind names a set of identities
// (a principalSet:// identifier).
func (k PrincipalKind) IsSet() bool { return k == KindAttribute || k == KindGroup || k == KindAll }

// Principal is a federated identity or set of identities of a workload
// identity pool, as IAM policy bindings name them.
type Principal struct {
	// Kind is the form of the identifier.
	Kind PrincipalKind
	// Pool is the pool; only ProjectNumber and ID are used (and set by
	// [ParsePrincipal] and the constructors).
	Pool Pool
	// Subject is the google.subject of a KindSubject principal.
	Subject string
	// Attribute is NAME of a KindAttribute principal, without the
	// "attribute." prefix.
	Attribute string
	// Value is the attribute value of a KindAttribute principal, or the
	// group of a KindGroup principal.
	Value string
}

// poolRef keeps the parts of a pool a principal identifier carries.
func poolRef(p Pool) Pool { return Pool{ProjectNumber: p.Number(), ID: p.ID} }

// SubjectPrincipal returns the principal of the one identity whose
// google.subject is subject.
func SubjectPrincipal(pool Pool, subject string) Principal {
	return Principal{Kind: KindSubject, Pool: poolRef(pool), Subject: subject}
}

// AttributePrincipal returns the set of identities whose custom attribute
// name (with or without the "attribute." prefix) has value, for example
// AttributePrincipal(pool, "repository_id", "123456").
func AttributePrincipal(pool Pool, name, value string) Principal {
	name = strings.TrimPrefix(name, "attribute.")
	return Principal{Kind: KindAttribute, Pool: poolRef(pool), Attribute: name, Value: value}
}

// GroupPrincipal returns the set of identities whose google.groups contain
// group.
func GroupPrincipal(pool Pool, group string) Principal {
	return Principal{Kind: KindGroup, Pool: poolRef(pool), Value: group}
}

// AllPrincipals returns the set of all identities of the pool,
// principalSet://…/*. Use it to recognise the identifier; never bind it.
func AllPrincipals(pool Pool) Principal {
	return Principal{Kind: KindAll, Pool: poolRef(pool)}
}

// RepositoryPrincipal returns the set of identities from one GitHub
// repository, by its immutable ID:
// principalSet://…/attribute.repository_id/ID. It needs the
// attribute.repository_id mapping of [GitHubAttributeMapping].
func RepositoryPrincipal(pool Pool, repo GitHubRepo) Principal {
	return AttributePrincipal(pool, "repository_id", repo.ID)
}

// Wildcard reports whether p is principalSet://…/*, every identity of the
// pool. With GitHub's issuer that is every repository the provider's
// condition lets through; bind to an attribute instead.
func (p Principal) Wildcard() bool { return p.Kind == KindAll }

// String returns the IAM identifier of p. It does not validate; see
// [Principal.Validate].
func (p Principal) String() string {
	base := "projects/" + p.Pool.Number() + "/locations/global/workloadIdentityPools/" + p.Pool.ID + "/"
	switch p.Kind {
	case KindSubject:
		return principalPrefix + base + "subject/" + p.Subject
	case KindAttribute:
		return principalSetPrefix + base + "attribute." + p.Attribute + "/" + p.Value
	case KindGroup:
		return principalSetPrefix + base + "group/" + p.Value
	case KindAll:
		return principalSetPrefix + base + "*"
	default:
		return fmt.Sprintf("invalid principal kind %q", string(p.Kind))
	}
}

// Validate checks that p is well formed: a numeric project, valid pool ID,
// a non-empty subject of at most [MaxSubjectBytes], an attribute name of
// [a-z0-9_] and non-empty values without control characters. A KindAll
// principal is valid (check [Principal.Wildcard] separately). Errors match
// [twostage.ErrInvalid] and name the bad part.
func (p Principal) Validate() error {
	if err := ValidateProjectNumber(p.Pool.Number()); err != nil {
		return fmt.Errorf("wif: principal %q: %w", p.String(), err)
	}
	if err := ValidatePoolID(p.Pool.ID); err != nil {
		return fmt.Errorf("wif: principal %q: %w", p.String(), err)
	}
	var err error
	switch p.Kind {
	case KindSubject:
		err = validateValue("subject", p.Subject)
		if err == nil && len(p.Subject) > MaxSubjectBytes {
			err = fmt.Errorf("subject is %d bytes, more than %d: %w", len(p.Subject), MaxSubjectBytes, twostage.ErrInvalid)
		}
	case KindAttribute:
		if len(p.Attribute) > MaxAttributeNameLen || !syntax.AttributeName(p.Attribute) {
			err = fmt.Errorf("attribute name %q must be 1 to %d characters of [a-z0-9_]: %w", p.Attribute, MaxAttributeNameLen, twostage.ErrInvalid)
		} else {
			err = validateValue("attribute value", p.Value)
		}
	case KindGroup:
		err = validateValue("group", p.Value)
	case KindAll:
	default:
		err = fmt.Errorf("kind %q is not subject, attribute, group or all: %w", string(p.Kind), twostage.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("wif: principal %q: %w", p.String(), err)
	}
	return nil
}

// ParsePrincipal parses and validates an IAM identifier of a federated
// principal: principal://…/subject/SUBJECT, principalSet://…/attribute.NAME/VALUE,
// principalSet://…/group/GROUP or principalSet://…/* (which parses, and
// whose Wildcard method reports true). The pool part must be
// projects/NUMBER/locations/global/workloadIdentityPools/POOL. Errors match
// [twostage.ErrInvalid] and name the bad part. For every p it returns,
// p.String() == s.
func ParsePrincipal(s string) (Principal, error) {
	var set bool
	rest, ok := strings.CutPrefix(s, principalPrefix)
	if !ok {
		rest, set = strings.CutPrefix(s, principalSetPrefix)
		if !set {
			return Principal{}, fmt.Errorf("wif: parsing principal %q: want prefix %q or %q: %w", s, principalPrefix, principalSetPrefix, twostage.ErrInvalid)
		}
	}
	// projects/N/locations/global/workloadIdentityPools/P/<tail>
	parts := strings.SplitN(rest, "/", 7)
	if len(parts) < 7 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "workloadIdentityPools" {
		return Principal{}, fmt.Errorf("wif: parsing principal %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/... after the prefix: %w", s, twostage.ErrInvalid)
	}
	if parts[3] != "global" {
		return Principal{}, fmt.Errorf("wif: parsing principal %q: location %q: workload identity pools are global: %w", s, parts[3], twostage.ErrInvalid)
	}
	p := Principal{Pool: Pool{ProjectNumber: parts[1], ID: parts[5]}}
	tail := parts[6]
	switch {
	case !set:
		sub, ok := strings.CutPrefix(tail, "subject/")
		if !ok {
			return Principal{}, fmt.Errorf("wif: parsing principal %q: principal:// identifiers end in subject/SUBJECT, not %q: %w", s, tail, twostage.ErrInvalid)
		}
		p.Kind, p.Subject = KindSubject, sub
	case tail == "*":
		p.Kind = KindAll
	case strings.HasPrefix(tail, "group/"):
		p.Kind, p.Value = KindGroup, strings.TrimPrefix(tail, "group/")
	case strings.HasPrefix(tail, "attribute."):
		name, value, ok := strings.Cut(strings.TrimPrefix(tail, "attribute."), "/")
		if !ok {
			return Principal{}, fmt.Errorf("wif: parsing principal %q: %q has no /VALUE after the attribute name: %w", s, tail, twostage.ErrInvalid)
		}
		p.Kind, p.Attribute, p.Value = KindAttribute, name, value
	default:
		return Principal{}, fmt.Errorf("wif: parsing principal %q: principalSet:// identifiers end in attribute.NAME/VALUE, group/GROUP or *, not %q: %w", s, tail, twostage.ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// ValidatePoolID checks a workload identity pool ID: "The ID must be
// between 4 and 32 characters, and may contain the characters [a-z0-9-].
// The prefix gcp- is reserved for use by Google, and may not be specified."
// (IAM v1 projects.locations.workloadIdentityPools.create,
// workloadIdentityPoolId). Errors match [twostage.ErrInvalid].
func ValidatePoolID(id string) error { return validateID("pool", id) }

// ValidateProviderID checks a provider ID; the rules are those of
// [ValidatePoolID] (IAM v1 ...providers.create, workloadIdentityPoolProviderId).
func ValidateProviderID(id string) error { return validateID("provider", id) }

func validateID(what, id string) error {
	if n := len(id); n < 4 || n > 32 {
		return fmt.Errorf("%s ID %q is %d characters, want 4 to 32 of [a-z0-9-]: %w", what, id, n, twostage.ErrInvalid)
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%s ID %q has %q, want only [a-z0-9-]: %w", what, id, c, twostage.ErrInvalid)
		}
	}
	if strings.HasPrefix(id, "gcp-") {
		return fmt.Errorf("%s ID %q: the prefix gcp- is reserved by Google: %w", what, id, twostage.ErrInvalid)
	}
	return nil
}

// ValidateProjectNumber checks a project number: 1 to 20 digits. Pool
// names, principal identifiers and STS audiences use the number, not the
// project ID. Errors match [twostage.ErrInvalid] and say how to find the
// number.
func ValidateProjectNumber(n string) error {
	if n == "" || len(n) > 20 {
		return fmt.Errorf("project number %q must be 1 to 20 digits (find it with `gcloud projects describe PROJECT --format='value(projectNumber)'`): %w", n, twostage.ErrInvalid)
	}
	for _, c := range []byte(n) {
		if c < '0' || c > '9' {
			return fmt.Errorf("project %q is not a project number: principal identifiers, pool names and STS audiences use the number (find it with `gcloud projects describe %s --format='value(projectNumber)'`): %w", n, n, twostage.ErrInvalid)
		}
	}
	return nil
}

func validateValue(what, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty: %w", what, twostage.ErrInvalid)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s %q has control character %#x at byte %d: %w", what, v, c, i, twostage.ErrInvalid)
		}
	}
	return nil
}

// ParsePoolName parses "projects/NUMBER/locations/global/workloadIdentityPools/ID"
// into a Pool with ProjectNumber and ID set.
func ParsePoolName(name string) (Pool, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 6 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "workloadIdentityPools" {
		return Pool{}, fmt.Errorf("wif: parsing pool name %q: want projects/NUMBER/locations/global/workloadIdentityPools/ID: %w", name, twostage.ErrInvalid)
	}
	return parsePoolParts(name, parts)
}

func parsePoolParts(name string, parts []string) (Pool, error) {
	if parts[3] != "global" {
		return Pool{}, fmt.Errorf("wif: parsing %q: location %q: workload identity pools are global: %w", name, parts[3], twostage.ErrInvalid)
	}
	if err := ValidateProjectNumber(parts[1]); err != nil {
		return Pool{}, fmt.Errorf("wif: parsing %q: %w", name, err)
	}
	if err := ValidatePoolID(parts[5]); err != nil {
		return Pool{}, fmt.Errorf("wif: parsing %q: %w", name, err)
	}
	return Pool{ProjectNumber: parts[1], ID: parts[5]}, nil
}

// ParseProviderName parses
// "projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID"
// into a Provider with only Pool and ID set.
func ParseProviderName(name string) (Provider, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "workloadIdentityPools" || parts[6] != "providers" {
		return Provider{}, fmt.Errorf("wif: parsing provider name %q: want projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID: %w", name, twostage.ErrInvalid)
	}
	pool, err := parsePoolParts(name, parts[:6])
	if err != nil {
		return Provider{}, err
	}
	if err := ValidateProviderID(parts[7]); err != nil {
		return Provider{}, fmt.Errorf("wif: parsing %q: %w", name, err)
	}
	return Provider{Pool: pool, ID: parts[7]}, nil
}

// ParseAudience parses an STS audience, "//iam.googleapis.com/" followed by
// a provider name (as [Provider.Audience] builds it), or the same with an
// "https:" prefix (as [Provider.DefaultTokenAudience] builds it), into a
// Provider with only Pool and ID set.
func ParseAudience(aud string) (Provider, error) {
	name, ok := strings.CutPrefix(aud, audiencePrefix)
	if !ok {
		name, ok = strings.CutPrefix(aud, httpsAudiencePref)
	}
	if !ok {
		return Provider{}, fmt.Errorf("wif: parsing audience %q: want %q or %q followed by a provider name: %w", aud, audiencePrefix, httpsAudiencePref, twostage.ErrInvalid)
	}
	p, err := ParseProviderName(name)
	if err != nil {
		return Provider{}, fmt.Errorf("wif: parsing audience %q: %w", aud, err)
	}
	return p, nil
}
