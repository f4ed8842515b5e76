// Package stsfake is an in-process emulator of the services a keyless
// GitHub Actions → Google Cloud login talks to, served over real HTTP on
// loopback (like httptest.Server):
//
//   - a GitHub-like OIDC issuer: /.well-known/openid-configuration, a JWKS
//     and RS256 tokens signed with a key generated per server
//     ([Server.IssueToken]);
//   - the GitHub Actions token request endpoint ([Server.ActionsRequestURL]
//     with the bearer [Server.RequestToken]), which answers {"value": JWT}
//     for the claims set with [Server.SetActionsClaims] and the requested
//     audience;
//   - the Security Token Service token exchange (POST /v1/token,
//     [Server.TokenURL]), which verifies the subject token's signature,
//     expiry, issuer and audience, finds the provider by the STS audience
//     (providers registered with [Server.AddProvider], or found in the IAM
//     emulator given to [WithIAM], as the real STS finds them in IAM) and
//     applies its
//     attribute mapping and condition with its own CEL environment (it imports
//     nothing of package wif, whose evaluator it is the judge of);
//   - the IAM Credentials generateAccessToken method for service-account
//     impersonation ([Server.AllowImpersonation]).
//
// Other emulators check a caller's access token with [Server.Identity],
// [Server.IdentityFromHeader] or [Server.Principal], and
// [Identity.Matches] tells whether an IAM member (principal://,
// principalSet:// or serviceAccount:) includes the caller. Fault
// injection, latency and the request log are those of every emulator in
// fake/... (package fake/emulation), by the method names [MethodToken],
// [MethodGenerateAccessToken], [MethodActions], [MethodDiscovery] and
// [MethodJWKS].
//
// Error answers follow Google's shapes: STS answers
// {"error": CODE, "error_description": TEXT} with HTTP 400 (or 401), the
// IAM Credentials API {"error": {"code", "message", "status"}}.
//
// # Fidelity
//
// Sources: the exchange's parameters and answer (the STS v1 token
// reference and RFC 8693); the invalid_request text for a malformed
// audience (google-github-actions/auth issue #60), the invalid_target text
// for an unknown or disabled provider (issues #161 and #334), the
// google.subject 127-byte text, and the IAM Credentials PERMISSION_DENIED
// text (as quoted in google-github-actions/auth issues); the Actions
// endpoint's {"count", "value"} answer (GitHub's documentation).
//
// Request bodies over 10 MiB answer 413 with the HTML page of Google's
// front end, reading no more than the limit (the limit and the page as
// quoted in googleworkspace/dotnet-samples issue #23 and
// googleapis/google-cloud-ruby PR #31568; the limit of this API itself is
// unverified).
//
// Attribute mappings and conditions are judged by the emulator's own
// cel-go environment, written from the iam/v1 WorkloadIdentityPoolProvider
// documentation (variables assertion, google, attribute; google.subject at
// most 127 bytes; the extract function; an empty condition accepts); a
// table test holds it and wif/provision.Evaluate to the same verdicts.
//
// Unverified (no source at hand; the real services may differ):
//   - a mapping whose evaluation fails (a missing claim) or gives a
//     non-string refuses the token (invalid_grant); a condition that fails
//     to evaluate refuses it like a false one; an empty google.subject is
//     refused; the exact matching rules of extract;
//   - the texts of the invalid_grant and unauthorized_client answers other
//     than those above (signature, expiry, nbf, issuer, audience, mapping);
//   - the Actions endpoint's 401 body, its default audience (the owner's
//     URL) and the token lifetime ([ActionsTokenLifetime]);
//   - the OAuth error code an injected gRPC status becomes on
//     [MethodToken];
//   - generateAccessToken's lifetime bounds (at most 12 h) and texts.
package stsfake
