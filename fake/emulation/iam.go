package emulation

import (
	"context"

	"cloud.google.com/go/iam/apiv1/iampb"
	"golang.org/x/oauth2"
)

// Principal is who a bearer token belongs to, as IAM sees it.
type Principal interface {
	// Matches reports whether the IAM member ("user:…", "serviceAccount:…",
	// "principal://…", "principalSet://…", "group:…") includes the
	// principal. allUsers and allAuthenticatedUsers are the emulators'.
	Matches(member string) bool
}

// IAM turns on IAM enforcement in an emulator (its WithIAM option): each
// call's bearer token is resolved to a principal and the permission the
// method needs is checked against the policies of the resource, its
// project and, for a deploy naming a runtime service account, that
// account. A denial is PERMISSION_DENIED "Permission 'P' denied on
// resource 'R' (or it may not exist)."; an unknown or expired token is
// UNAUTHENTICATED.
type IAM struct {
	// Resolve returns the principal of a bearer token; false for a token
	// the issuer does not know (or that expired). stsfake.Server.Resolve
	// resolves the tokens it minted.
	Resolve func(token string) (Principal, bool)
	// Policy returns the IAM policy of a resource the emulator does not
	// hold itself: a project ("projects/ID"), whose bindings every resource
	// in it inherits, or a service account
	// ("projects/-/serviceAccounts/EMAIL"). Nil, or a nil policy, is none.
	Policy func(resource string) *iampb.Policy
	// Strict answers a call without a token UNAUTHENTICATED. Otherwise
	// such a call acts as the project's owner, so clients that send no
	// credentials (local play, most tests) keep working.
	Strict bool
}

// BearerCredentials sends the tokens of Source as "authorization: Bearer"
// gRPC metadata over the plain-text connection the emulators speak
// (grpc.WithPerRPCCredentials): golang.org/x/oauth2's and grpc's own
// oauth credentials require transport security and would refuse it. Use
// it only towards an emulator on a trusted address; against Google Cloud,
// option.WithTokenSource sends the token over TLS. Its errors are
// Source's.
type BearerCredentials struct {
	Source oauth2.TokenSource
}

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (c BearerCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	tok, err := c.Source.Token()
	if err != nil {
		return nil, err
	}
	return map[string]string{"authorization": tok.Type() + " " + tok.AccessToken}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials:
// false, for the emulators' plain-text connections.
func (BearerCredentials) RequireTransportSecurity() bool { return false }

// Bearer returns BearerCredentials that always send token.
func Bearer(token string) BearerCredentials {
	return BearerCredentials{Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})}
}
