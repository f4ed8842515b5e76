package wif

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twostage/twostage/wif/internal/syntax"
)

// GitHubIssuer is the issuer of GitHub Actions OIDC tokens, and the default
// [Provider.Issuer].
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Pool is a workload identity pool: a container of providers, and the
// namespace of the principals they produce. Pools live in the global
// location.
type Pool struct {
	// Project is the project that holds the pool, by ID ("my-project") or
	// number ("123456789012").
	Project string
	// ProjectNumber is the project number. Resource names, STS audiences and
	// principal identifiers use the number; when it is empty, Project is
	// used in its place, which is only correct when Project is a number.
	ProjectNumber string
	// ID is the pool ID: 4 to 32 characters of [a-z0-9-], not starting with
	// "gcp-" (see [ValidatePoolID]).
	ID string
	// DisplayName and Description are informational.
	DisplayName, Description string
	// Disabled pools refuse every token exchange.
	Disabled bool
}

// Number returns the project number, or Project when it is unknown.
func (p Pool) Number() string {
	if p.ProjectNumber != "" {
		return p.ProjectNumber
	}
	return p.Project
}

// Name returns the pool's resource name,
// "projects/NUMBER/locations/global/workloadIdentityPools/ID".
func (p Pool) Name() string {
	return "projects/" + p.Number() + "/locations/global/workloadIdentityPools/" + p.ID
}

// Provider is a workload identity pool provider of the OIDC kind: it trusts
// tokens from one issuer, maps their claims to Google attributes and accepts
// only those that satisfy its condition.
type Provider struct {
	// Pool is the pool the provider belongs to.
	Pool Pool
	// ID is the provider ID: 4 to 32 characters of [a-z0-9-], not starting
	// with "gcp-" (see [ValidateProviderID]).
	ID string
	// Issuer is the OIDC issuer URI. The default (empty) is [GitHubIssuer].
	Issuer string
	// AllowedAudiences are the token audiences STS accepts. Empty means the
	// default audience, [Provider.DefaultTokenAudience].
	AllowedAudiences []string
	// AttributeMapping maps Google attributes ("google.subject",
	// "google.groups", "attribute.NAME") to CEL expressions over
	// `assertion`, the token's claims. For example
	// "google.subject": "assertion.sub",
	// "attribute.repository_id": "assertion.repository_id".
	AttributeMapping map[string]string
	// AttributeCondition is a CEL expression over `assertion`, `google` and
	// `attribute` that must be true for a token to be accepted. Empty
	// accepts every valid token, which is never safe for GitHub's shared
	// issuer: any repository on github.com could then authenticate.
	AttributeCondition string
}

// Name returns the provider's resource name,
// "projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID".
func (p Provider) Name() string { return p.Pool.Name() + "/providers/" + p.ID }

// Audience returns the audience of the STS token exchange (the
// externalaccount.Config.Audience),
// "//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID".
func (p Provider) Audience() string { return "//iam.googleapis.com/" + p.Name() }

// DefaultTokenAudience returns the audience an OIDC token must carry when
// AllowedAudiences is empty: the provider's full resource name as an https
// URL, "https://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID".
// (IAM documentation of allowedAudiences: "If empty, the OIDC token audience
// must be equal to the full canonical resource name of the
// WorkloadIdentityPoolProvider, with or without the HTTPS prefix.")
func (p Provider) DefaultTokenAudience() string { return "https://iam.googleapis.com/" + p.Name() }

// TokenAudiences returns the audiences STS accepts in an OIDC token for
// this provider: AllowedAudiences, or when that is empty the default
// audience with and without the https: prefix.
func (p Provider) TokenAudiences() []string {
	if len(p.AllowedAudiences) > 0 {
		return slices.Clone(p.AllowedAudiences)
	}
	return []string{p.DefaultTokenAudience(), p.Audience()}
}

// IssuerURI returns Issuer, or [GitHubIssuer] when it is empty.
func (p Provider) IssuerURI() string {
	if p.Issuer == "" {
		return GitHubIssuer
	}
	return p.Issuer
}

// GitHubRepo identifies a GitHub repository. Conditions and bindings use the
// numeric IDs, which survive renames and cannot be claimed by someone else
// after a repository or account is deleted; the names are for display.
// Find the IDs with `gh api repos/OWNER/NAME --jq '.id, .owner.id'`.
type GitHubRepo struct {
	// Owner is the user or organisation login, for display.
	Owner string
	// Name is the repository name without the owner, for display.
	Name string
	// OwnerID is the numeric ID of the owner (claim repository_owner_id).
	OwnerID string
	// ID is the numeric ID of the repository (claim repository_id).
	ID string
}

// String returns "OWNER/NAME (id ID, owner id OWNERID)".
func (r GitHubRepo) String() string {
	return fmt.Sprintf("%s/%s (id %s, owner id %s)", r.Owner, r.Name, r.ID, r.OwnerID)
}

// GitHubAttributeMapping returns the attribute mapping of [GitHubProvider]
// (a new map on every call).
//
// google.subject is "repo:REPOSITORY_ID:run:RUN_ID:RUN_ATTEMPT", not the
// token's sub claim. STS rejects a token whose google.subject exceeds 127
// bytes, and GitHub's sub ("repo:OWNER/NAME:ref:refs/heads/BRANCH",
// "repo:OWNER/NAME:environment:ENV") grows with the owner (≤ 39 bytes), the
// repository name (≤ 100 bytes) and the branch or environment name: a long
// but valid repository would be locked out. The alternative some guides
// use, assertion.repository_id + ":" + assertion.ref, is bounded by the
// ID but not by the ref (a branch name may be ~250 bytes), so it fails
// the same way on long branch names. Every part of the chosen
// subject is a decimal number, so it stays under about 70 bytes, and it
// still identifies exactly one workflow run in Cloud Audit Logs (the run
// links to the ref, commit and actor). The price is that a
// principal://…/subject/… binding is useless with this mapping; bind on
// attributes instead (principalSet://…/attribute.repository_id/ID), which
// is what the condition and the setup in this package do. The full sub
// remains in the token and can be mapped to a custom attribute by a caller
// who needs it.
func GitHubAttributeMapping() map[string]string {
	return map[string]string{
		"google.subject":                "'repo:' + assertion.repository_id + ':run:' + assertion.run_id + ':' + assertion.run_attempt",
		"attribute.repository":          "assertion.repository",
		"attribute.repository_id":       "assertion.repository_id",
		"attribute.repository_owner_id": "assertion.repository_owner_id",
		"attribute.ref":                 "assertion.ref",
		"attribute.ref_type":            "assertion.ref_type",
		"attribute.workflow_ref":        "assertion.workflow_ref",
		"attribute.actor_id":            "assertion.actor_id",
		"attribute.event_name":          "assertion.event_name",
	}
}

// GitHubCondition returns the attribute condition of [GitHubProvider]:
// the token must come from the repository with repo.ID owned by the
// account with repo.OwnerID. Empty IDs give a condition that no GitHub token
// satisfies (GitHub always sets both claims), never an open one.
func GitHubCondition(repo GitHubRepo) string {
	return fmt.Sprintf("assertion.repository_owner_id == %s && assertion.repository_id == %s",
		syntax.QuoteCEL(repo.OwnerID), syntax.QuoteCEL(repo.ID))
}

// GitHubProvider returns the secure default provider for one GitHub
// repository: issuer [GitHubIssuer], the default audience, the mapping of
// [GitHubAttributeMapping] and the condition of [GitHubCondition], pinned to
// the numeric owner and repository IDs.
func GitHubProvider(pool Pool, id string, repo GitHubRepo) Provider {
	return Provider{
		Pool:               pool,
		ID:                 id,
		Issuer:             GitHubIssuer,
		AttributeMapping:   GitHubAttributeMapping(),
		AttributeCondition: GitHubCondition(repo),
	}
}

// Clone returns a deep copy of p.
func (p Provider) Clone() Provider {
	p.AllowedAudiences = slices.Clone(p.AllowedAudiences)
	p.AttributeMapping = maps.Clone(p.AttributeMapping)
	return p
}

// Claims are the decoded claims of an OIDC token (a JWT payload), as
// encoding/json decodes them: strings, float64 numbers, bools, lists and
// maps.
type Claims map[string]any

// String returns the string claim name, or "" when it is absent or not a
// string.
func (c Claims) String(name string) string {
	s, _ := c[name].(string)
	return s
}
