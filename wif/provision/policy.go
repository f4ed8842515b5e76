package provision

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"

	"cloud.google.com/go/iam/apiv1/iampb"
	resourcemanager "cloud.google.com/go/resourcemanager/apiv3"
	"github.com/googleapis/gax-go/v2"
	"github.com/twostage/twostage/internal/gcperr"
	iam "google.golang.org/api/iam/v1"
	"google.golang.org/genproto/googleapis/type/expr"
	"google.golang.org/protobuf/proto"
)

// PolicyStore reads and writes the IAM policy of one kind of resource.
// GetPolicy must request policy version 3 (so conditional bindings are
// returned intact); SetPolicy writes conditionally on the etag of the
// policy it is given and fails with an error matching
// [twostage.ErrConflict] when the policy changed since (gRPC ABORTED or
// HTTP 409). Errors keep the API's status in their chain.
// Implementations must be safe for concurrent use.
type PolicyStore interface {
	GetPolicy(ctx context.Context, resource string) (*iampb.Policy, error)
	SetPolicy(ctx context.Context, resource string, p *iampb.Policy) (*iampb.Policy, error)
}

// IAMPolicyClient is the IAM surface the gapic clients share:
// run.ServicesClient (Cloud Run services) and artifactregistry.Client
// (repositories) both satisfy it.
type IAMPolicyClient interface {
	GetIamPolicy(ctx context.Context, req *iampb.GetIamPolicyRequest, opts ...gax.CallOption) (*iampb.Policy, error)
	SetIamPolicy(ctx context.Context, req *iampb.SetIamPolicyRequest, opts ...gax.CallOption) (*iampb.Policy, error)
}

// ClientPolicyStore returns a PolicyStore over any gapic client with IAM
// methods, for example a *run.ServicesClient for [ResourceRunService] or an
// *artifactregistry.Client for [ResourceRepository]. A
// *resourcemanager.ProjectsClient works too (see [ProjectPolicyStore]).
func ClientPolicyStore(c IAMPolicyClient) PolicyStore { return clientStore{c} }

// ProjectPolicyStore returns the PolicyStore of projects, over Resource
// Manager v3.
func ProjectPolicyStore(c *resourcemanager.ProjectsClient) PolicyStore { return clientStore{c} }

// clientStore turns off the gapic client's own retries (they sleep on the
// wall clock); the Manager retries transient failures on its clock.
type clientStore struct{ c IAMPolicyClient }

var _ PolicyStore = clientStore{}

func (s clientStore) GetPolicy(ctx context.Context, resource string) (*iampb.Policy, error) {
	p, err := s.c.GetIamPolicy(ctx, &iampb.GetIamPolicyRequest{
		Resource: resource,
		Options:  &iampb.GetPolicyOptions{RequestedPolicyVersion: 3},
	}, gcperr.NoClientRetry())
	if err != nil {
		return nil, gcperr.Wrap(err, "reading IAM policy of %q", resource)
	}
	return p, nil
}

func (s clientStore) SetPolicy(ctx context.Context, resource string, p *iampb.Policy) (*iampb.Policy, error) {
	out, err := s.c.SetIamPolicy(ctx, &iampb.SetIamPolicyRequest{Resource: resource, Policy: p}, gcperr.NoClientRetry())
	if err != nil {
		return nil, gcperr.Wrap(err, "writing IAM policy of %q", resource)
	}
	return out, nil
}

// ServiceAccountPolicyStore returns the PolicyStore of service accounts,
// over the IAM v1 REST API (projects.serviceAccounts.getIamPolicy and
// setIamPolicy). Resources are "projects/PROJECT/serviceAccounts/EMAIL".
func ServiceAccountPolicyStore(svc *iam.Service) PolicyStore { return saStore{svc} }

type saStore struct{ svc *iam.Service }

var _ PolicyStore = saStore{}

func (s saStore) GetPolicy(ctx context.Context, resource string) (*iampb.Policy, error) {
	p, err := s.svc.Projects.ServiceAccounts.GetIamPolicy(resource).OptionsRequestedPolicyVersion(3).Context(ctx).Do()
	if err != nil {
		return nil, gcperr.Wrap(err, "reading IAM policy of %q", resource)
	}
	return fromREST(p)
}

func (s saStore) SetPolicy(ctx context.Context, resource string, p *iampb.Policy) (*iampb.Policy, error) {
	out, err := s.svc.Projects.ServiceAccounts.SetIamPolicy(resource, &iam.SetIamPolicyRequest{Policy: toREST(p)}).Context(ctx).Do()
	if err != nil {
		return nil, gcperr.Wrap(err, "writing IAM policy of %q", resource)
	}
	return fromREST(out)
}

// fromREST converts an iam/v1 policy (etag base64 in JSON) to iampb.
func fromREST(p *iam.Policy) (*iampb.Policy, error) {
	etag, err := base64.StdEncoding.DecodeString(p.Etag)
	if err != nil {
		return nil, fmt.Errorf("decoding policy etag %q: %w", p.Etag, err)
	}
	out := &iampb.Policy{Version: int32(p.Version), Etag: etag}
	for _, b := range p.Bindings {
		pb := &iampb.Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		if b.Condition != nil {
			pb.Condition = &expr.Expr{Title: b.Condition.Title, Description: b.Condition.Description, Expression: b.Condition.Expression, Location: b.Condition.Location}
		}
		out.Bindings = append(out.Bindings, pb)
	}
	return out, nil
}

func toREST(p *iampb.Policy) *iam.Policy {
	out := &iam.Policy{Version: int64(p.GetVersion()), Etag: base64.StdEncoding.EncodeToString(p.GetEtag())}
	for _, b := range p.GetBindings() {
		rb := &iam.Binding{Role: b.GetRole(), Members: slices.Clone(b.GetMembers())}
		if c := b.GetCondition(); c != nil {
			rb.Condition = &iam.Expr{Title: c.GetTitle(), Description: c.GetDescription(), Expression: c.GetExpression(), Location: c.GetLocation()}
		}
		out.Bindings = append(out.Bindings, rb)
	}
	return out
}

// sameCondition reports whether a policy binding's condition is c.
func sameCondition(pc *expr.Expr, c *Expr) bool {
	if pc == nil || c == nil {
		return pc == nil && c == nil
	}
	return pc.GetExpression() == c.Expression && pc.GetTitle() == c.Title && pc.GetDescription() == c.Description
}

// hasBinding reports whether p grants b.Role to b.Member under b.Condition.
func hasBinding(p *iampb.Policy, b Binding) bool {
	for _, pb := range p.GetBindings() {
		if pb.GetRole() == b.Role && sameCondition(pb.GetCondition(), b.Condition) && slices.Contains(pb.GetMembers(), b.Member) {
			return true
		}
	}
	return false
}

// withBindings returns a copy of p that also grants bs, set to version 3
// and keeping p's etag (so the write is conditional). It only adds: every
// existing binding and member stays. It reports how many grants it added.
func withBindings(p *iampb.Policy, bs []Binding) (*iampb.Policy, int) {
	out := proto.Clone(p).(*iampb.Policy)
	added := 0
	for _, b := range bs {
		if hasBinding(out, b) {
			continue
		}
		added++
		i := slices.IndexFunc(out.Bindings, func(pb *iampb.Binding) bool {
			return pb.GetRole() == b.Role && sameCondition(pb.GetCondition(), b.Condition)
		})
		if i >= 0 {
			out.Bindings[i].Members = append(out.Bindings[i].Members, b.Member)
			continue
		}
		nb := &iampb.Binding{Role: b.Role, Members: []string{b.Member}}
		if b.Condition != nil {
			nb.Condition = &expr.Expr{Title: b.Condition.Title, Description: b.Condition.Description, Expression: b.Condition.Expression}
		}
		out.Bindings = append(out.Bindings, nb)
	}
	// Version 3 is required to write conditional bindings and harmless
	// without them (iampb.Policy.version).
	out.Version = 3
	return out, added
}
