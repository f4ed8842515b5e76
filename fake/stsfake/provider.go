package stsfake

import (
	"maps"
	"regexp"
	"slices"

	"github.com/twostage/twostage/fake/iamfake"
)

// GitHubIssuer is the OIDC issuer of GitHub Actions tokens, the default
// issuer of the server's tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Provider is a workload identity pool provider as STS sees it: the
// fields of IAM's WorkloadIdentityPoolProvider (google.golang.org/api/iam/v1)
// that decide an exchange.
type Provider struct {
	// Name is the resource name,
	// "projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID".
	Name string
	// IssuerURI is the OIDC issuer (oidc.issuerUri); empty is [GitHubIssuer].
	IssuerURI string
	// AllowedAudiences are the accepted token audiences
	// (oidc.allowedAudiences); empty accepts
	// "https://iam.googleapis.com/" + Name, IAM's documented default.
	AllowedAudiences []string
	// AttributeMapping maps google.subject, google.groups and
	// attribute.NAME to CEL expressions over assertion.
	AttributeMapping map[string]string
	// AttributeCondition is a CEL expression over assertion, google and
	// attribute that must be true; empty accepts every token.
	AttributeCondition string
	// Disabled refuses every exchange (invalid_target), as a disabled or
	// deleted provider or pool does.
	Disabled bool
}

func (p Provider) clone() Provider {
	p.AllowedAudiences = slices.Clone(p.AllowedAudiences)
	p.AttributeMapping = maps.Clone(p.AttributeMapping)
	return p
}

func (p Provider) issuer() string {
	if p.IssuerURI == "" {
		return GitHubIssuer
	}
	return p.IssuerURI
}

// audiences returns the accepted token audiences: "If empty, the OIDC
// token audience must be equal to the full canonical resource name of the
// WorkloadIdentityPoolProvider, with or without the HTTPS prefix"
// (iam/v1 Oidc.allowedAudiences).
func (p Provider) audiences() []string {
	if len(p.AllowedAudiences) > 0 {
		return p.AllowedAudiences
	}
	return []string{"https://iam.googleapis.com/" + p.Name, "//iam.googleapis.com/" + p.Name}
}

var providerName = regexp.MustCompile(`^(projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]+)/providers/[a-z0-9-]+$`)

// parseProviderName returns the pool name of a provider name with a
// project number, and whether the name is one.
func parseProviderName(name string) (pool string, ok bool) {
	m := providerName.FindStringSubmatch(name)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// WithIAM makes STS find providers (and their pools) in the state of the
// IAM emulator iam, as the real STS finds them in IAM: a provider created
// through the emulated IAM API (`twostage wif apply`) is usable at once.
// Names must use the project number (iamfake's WithProject maps IDs to
// numbers). Providers added with [Server.AddProvider] are found first. The
// default is none: only AddProvider registers providers.
func WithIAM(iam *iamfake.Server) Option { return func(o *options) { o.iam = iam } }

func claimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}
