package emulator

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/twostage/twostage/fake/emulation"
)

// Need is one permission a call needs on one resource.
type Need struct {
	// Permission is the IAM permission, such as "run.services.update".
	Permission string
	// Resource is the full resource name it is checked on
	// ("projects/P/locations/L/services/S"); the policies of the resource,
	// of its project and (for a service account) of the account apply.
	Resource string
}

// Authz enforces IAM for one emulator: its IAM settings, the permissions
// each of its methods needs, and its own resources' policies.
type Authz struct {
	// IAM is who the tokens belong to, the outside policies and strictness.
	IAM emulation.IAM
	// Needs returns what a call of fullMethod with req needs; nil needs
	// nothing (a method outside IAM, or one the emulator does not check:
	// listed in its Fidelity section).
	Needs func(fullMethod string, req any) []Need
	// Policy returns the policy the emulator holds for resource, or nil.
	Policy func(resource string) *iampb.Policy
}

// NewAuthz returns the enforcement of an emulator whose options are o,
// with its needs and its own policies, or nil when o enforces no IAM.
func NewAuthz(o Options, needs func(fullMethod string, req any) []Need, policy func(resource string) *iampb.Policy) *Authz {
	if o.IAM == nil {
		return nil
	}
	return &Authz{IAM: *o.IAM, Needs: needs, Policy: policy}
}

// Interceptors returns the interceptor of a, none when a is nil.
func (a *Authz) Interceptors() []grpc.UnaryServerInterceptor {
	if a == nil {
		return nil
	}
	return []grpc.UnaryServerInterceptor{a.Intercept}
}

// Intercept is the unary interceptor that checks every call (REST calls
// are transcoded into the same gRPC calls, so they are checked too).
func (a *Authz) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	var auth string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			auth = v[0]
		}
	}
	if err := a.Check(auth, a.Needs(info.FullMethod, req)); err != nil {
		return nil, err
	}
	if tok, ok := BearerToken(auth); ok {
		if p, ok := a.IAM.Resolve(tok); ok {
			ctx = context.WithValue(ctx, callerKey{}, p)
		}
	}
	return h(ctx, req)
}

// callerKey holds the caller's emulation.Principal in a call's context.
type callerKey struct{}

// Caller returns who makes the call: the email of the principal of its
// bearer token when IAM is enforced and the principal tells one (a
// Principal with an Email() string method, as stsfake's identities), or
// "".
func Caller(ctx context.Context) string {
	p, ok := ctx.Value(callerKey{}).(interface{ Email() string })
	if !ok {
		return ""
	}
	return p.Email()
}

// Check checks the Authorization header value auth ("Bearer TOKEN", or
// Basic with the token as password, as docker and go-containerregistry
// send it to a registry) against needs. It returns a gRPC status error:
// UNAUTHENTICATED or PERMISSION_DENIED.
func (a *Authz) Check(auth string, needs []Need) error {
	token, ok := BearerToken(auth)
	if !ok {
		if a.IAM.Strict {
			return status.Error(codes.Unauthenticated, "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		}
		return nil // acts as the project owner
	}
	p, ok := a.IAM.Resolve(token)
	if !ok {
		return status.Error(codes.Unauthenticated, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
	}
	for _, n := range needs {
		if !a.allowed(p, n) {
			return status.Errorf(codes.PermissionDenied, "Permission '%s' denied on resource '%s' (or it may not exist).", n.Permission, n.Resource)
		}
	}
	return nil
}

// allowed reports whether a binding of the resource's policy (the
// emulator's own, or one IAM.Policy knows) or of its project's grants p
// the permission.
func (a *Authz) allowed(p emulation.Principal, n Need) bool {
	var policies []*iampb.Policy
	if a.Policy != nil {
		policies = append(policies, a.Policy(n.Resource))
	}
	if a.IAM.Policy != nil {
		policies = append(policies, a.IAM.Policy(n.Resource))
		if proj := projectOf(n.Resource); proj != "" && proj != n.Resource {
			policies = append(policies, a.IAM.Policy(proj))
		}
	}
	for _, pol := range policies {
		for _, b := range pol.GetBindings() {
			if !RoleGrants(b.GetRole(), n.Permission) {
				continue
			}
			for _, m := range b.GetMembers() {
				if m == "allUsers" || m == "allAuthenticatedUsers" || p.Matches(m) {
					return true
				}
			}
		}
	}
	return false
}

// projectOf returns "projects/P" of a resource name in project P, or ""
// (also for "projects/-/…").
func projectOf(resource string) string {
	parts := strings.SplitN(resource, "/", 3)
	if len(parts) < 2 || parts[0] != "projects" || parts[1] == "" || parts[1] == "-" {
		return ""
	}
	return "projects/" + parts[1]
}

// BearerToken returns the access token of an Authorization header value:
// "Bearer TOKEN", or "Basic base64(USER:TOKEN)" as registry clients send
// it (user oauth2accesstoken).
func BearerToken(auth string) (string, bool) {
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok && strings.TrimSpace(tok) != "" {
		return strings.TrimSpace(tok), true
	}
	if enc, ok := strings.CutPrefix(auth, "Basic "); ok {
		if user, pass, ok := decodeBasic(enc); ok && user != "" && pass != "" {
			return pass, true
		}
	}
	return "", false
}

// ServiceAccountResource is the resource name IAM checks actAs on.
func ServiceAccountResource(email string) string {
	return fmt.Sprintf("projects/-/serviceAccounts/%s", email)
}

// decodeBasic decodes the base64 "USER:PASSWORD" of Basic authentication.
func decodeBasic(enc string) (user, pass string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}
