package resourcemanagerfake

import (
	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/resourcemanager/apiv3/resourcemanagerpb"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
)

// WithIAM enforces IAM on every call (see emulation.IAM): GetProject needs
// resourcemanager.projects.get, GetIamPolicy
// resourcemanager.projects.getIamPolicy and SetIamPolicy
// resourcemanager.projects.setIamPolicy on the project, through the
// project's own policy (Resource Manager's IAM permissions,
// cloud.google.com/resource-manager/docs/access-control-proj). The default
// enforces nothing.
func WithIAM(iam emulation.IAM) Option { return func(s *server) { s.opts.IAM = &iam } }

// authz is the server's IAM enforcement, or nil.
func (s *server) authz() *emulator.Authz {
	return emulator.NewAuthz(s.opts, rmNeeds, s.policyOf)
}

func rmNeeds(_ string, req any) []emulator.Need {
	need := func(perm, resource string) []emulator.Need {
		return []emulator.Need{{Permission: "resourcemanager.projects." + perm, Resource: resource}}
	}
	switch r := req.(type) {
	case *resourcemanagerpb.GetProjectRequest:
		return need("get", r.GetName())
	case *iampb.GetIamPolicyRequest:
		return need("getIamPolicy", r.GetResource())
	case *iampb.SetIamPolicyRequest:
		return need("setIamPolicy", r.GetResource())
	}
	return nil
}

// policyOf returns the policy of project resource ("projects/ID" or
// "projects/NUMBER"), or nil.
func (s *server) policyOf(resource string) *iampb.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.lookup(resource)
	if err != nil || p.policy == nil {
		return nil
	}
	return proto.Clone(p.policy).(*iampb.Policy)
}
