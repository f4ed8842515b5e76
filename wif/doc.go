// Package wif makes keyless deployment from GitHub Actions to Google Cloud
// the default: Workload Identity Federation (WIF) exchanges the short-lived
// OIDC token GitHub gives a job for a Google access token, so no service
// account key ever exists.
//
// The package is what a deploying job needs, and nothing more:
//
//   - Types and identifiers: [Pool], [Provider], [GitHubRepo], [Principal]
//     and the parsers and builders of the resource names and principal
//     identifiers IAM uses ([ParsePrincipal], [SubjectPrincipal],
//     [AttributePrincipal]).
//   - The secure default provider, [GitHubProvider]: an attribute
//     condition pinned to the numeric repository and owner IDs (names can
//     be renamed and re-registered by someone else; IDs cannot), and an
//     attribute mapping whose google.subject always fits STS's 127-byte
//     limit (see [GitHubProvider] for the choice). [GitHubClaims] builds
//     the claims of a sample GitHub token to try a provider with.
//   - The runtime side: [GitHubOIDC], a subject-token supplier that fetches
//     and caches the job's OIDC token ([FromGitHubActions] is the only
//     function that reads the environment), and [TokenSource], which turns
//     it into an [golang.org/x/oauth2.TokenSource] through STS (and,
//     optionally, service-account impersonation). The result plugs into
//     google.golang.org/api/option.WithTokenSource and into
//     go-containerregistry's google.NewTokenSourceAuthenticator. A
//     transient answer (HTTP 429, 502, 503, 504, or none) of GitHub, STS or
//     IAM Credentials is retried with backoff on the injected clock
//     ([WithRetry], [DefaultRetry]); a cancelled context stays in the
//     error chain.
//
// The declarative side lives in [github.com/twostage/twostage/wif/provision]:
// the pool, provider and role bindings declared in Go (with event-exact
// defaults for GitHub: one identity per pipeline step), planned and
// applied like code, simulated against
// sample tokens with the provider's CEL evaluated the way STS does, linted
// and rendered for gcloud or Terraform. It is a separate package so that a
// job which only needs a token source does not link cel-go or the IAM and
// Resource Manager clients (a test holds this).
//
// # Sources
//
// Facts about STS and IAM reproduced here come from the IAM v1 API
// reference (WorkloadIdentityPoolProvider.attributeMapping and
// attributeCondition field documentation: "google.subject … Cannot exceed
// 127 bytes", "a maximum of 50 custom attributes", "The maximum length of a
// mapped attribute key is 100 characters, and the key may only contain the
// characters [a-z0-9_]", "The maximum length of the attribute condition
// expression is 4096 characters", the keywords assertion, google and
// attribute), from golang.org/x/oauth2/google/externalaccount (the token
// exchange request), and from GitHub's "About security hardening with
// OpenID Connect" (the claims of an Actions token). Behaviour marked
// "unverified" in a doc comment was not found in a published source and is
// our best understanding; the STS error texts are of that kind.
package wif
