package cloudrunfake

import (
	"strings"

	"cloud.google.com/go/iam/apiv1/iampb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/fake/emulation"
	"github.com/twostage/twostage/internal/emulator"
)

// WithIAM enforces IAM on every call (see emulation.IAM): the caller's
// bearer token must hold, through the service's policy or its project's,
// the permission of the method (Cloud Run's IAM permissions reference,
// cloud.google.com/run/docs/reference/iam/permissions), and
// iam.serviceAccounts.actAs on the runtime service account a create or an
// update names. The default enforces nothing: every call is allowed.
func WithIAM(iam emulation.IAM) Option { return func(c *config) { c.IAM = &iam } }

// authz is the server's IAM enforcement, or nil.
func (s *server) authz() *emulator.Authz {
	return emulator.NewAuthz(s.cfg.Options, runNeeds, s.policyOf)
}

// runNeeds is what each method needs. Operations are not checked: their
// names do not say which API's they are (fake/emulators serves Cloud Run's
// and Artifact Registry's on one Operations service), and a caller polls
// only what it started; TestIamPermissions needs nothing.
func runNeeds(_ string, req any) []emulator.Need {
	need := func(perm, resource string) []emulator.Need {
		return []emulator.Need{{Permission: perm, Resource: resource}}
	}
	actAs := func(n []emulator.Need, tmpl *runpb.RevisionTemplate) []emulator.Need {
		if sa := tmpl.GetServiceAccount(); sa != "" {
			n = append(n, emulator.Need{Permission: "iam.serviceAccounts.actAs", Resource: emulator.ServiceAccountResource(sa)})
		}
		return n
	}
	switch r := req.(type) {
	case *runpb.GetServiceRequest:
		return need("run.services.get", r.GetName())
	case *runpb.ListServicesRequest:
		return need("run.services.list", r.GetParent())
	case *runpb.CreateServiceRequest:
		return actAs(need("run.services.create", r.GetParent()), r.GetService().GetTemplate())
	case *runpb.UpdateServiceRequest:
		return actAs(need("run.services.update", r.GetService().GetName()), r.GetService().GetTemplate())
	case *runpb.DeleteServiceRequest:
		return need("run.services.delete", r.GetName())
	case *runpb.GetRevisionRequest:
		return need("run.revisions.get", r.GetName())
	case *runpb.ListRevisionsRequest:
		return need("run.revisions.list", r.GetParent())
	case *runpb.DeleteRevisionRequest:
		return need("run.revisions.delete", r.GetName())
	case *iampb.GetIamPolicyRequest:
		return need("run.services.getIamPolicy", r.GetResource())
	case *iampb.SetIamPolicyRequest:
		return need("run.services.setIamPolicy", r.GetResource())
	}
	return nil
}

// policyOf returns the policy of the service resource names or is in (a
// revision's is its service's), or nil.
func (s *server) policyOf(resource string) *iampb.Policy {
	if i := strings.Index(resource, "/revisions/"); i >= 0 {
		resource = resource[:i]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.services[resource]
	if !ok || st.policy == nil {
		return nil
	}
	return proto.Clone(st.policy).(*iampb.Policy)
}
