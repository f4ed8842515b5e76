package emulation

import "cloud.google.com/go/iam/apiv1/iampb"

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
