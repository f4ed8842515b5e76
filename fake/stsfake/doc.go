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
//     (register providers with [Server.AddProvider]) and applies its
//     attribute mapping and condition with provision.Evaluate;
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
// Unverified (no source at hand; the real services may differ):
//   - the texts of the invalid_grant and unauthorized_client answers other
//     than those above (signature, expiry, nbf, issuer, audience, mapping);
//   - the Actions endpoint's 401 body, its default audience (the owner's
//     URL) and the token lifetime ([ActionsTokenLifetime]);
//   - the OAuth error code an injected gRPC status becomes on
//     [MethodToken];
//   - generateAccessToken's lifetime bounds (at most 12 h) and texts.
package stsfake
