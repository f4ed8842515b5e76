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
// principalSet:// or serviceAccount:) includes the caller. Failures are
// injected per endpoint with [WithErrorInjection].
//
// Error answers follow Google's shapes: STS answers
// {"error": CODE, "error_description": TEXT} with HTTP 400 (or 401), the
// IAM Credentials API {"error": {"code", "message", "status"}}. Texts
// quoted from google-github-actions/auth issues are marked as such in the
// code; the others are unverified approximations of the real service.
package stsfake
