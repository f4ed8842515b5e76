package artifactregistryfake

import (
	"context"
	"slices"
	"strconv"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/internal/emulator"
)

// GetIamPolicy returns the repository's policy (ArtifactRegistry
// GetIamPolicy, resource "projects/P/locations/L/repositories/R"); a
// repository whose policy was never set has an empty one.
func (s *server) GetIamPolicy(_ context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(req.GetResource())
	if err != nil {
		return nil, err
	}
	if r.policy == nil {
		return &iampb.Policy{Version: 1}, nil
	}
	return proto.Clone(r.policy).(*iampb.Policy), nil
}

// SetIamPolicy replaces the repository's policy, by IAM's rules
// (emulator.SetPolicy: a stale etag is ABORTED).
func (s *server) SetIamPolicy(_ context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.repo(req.GetResource())
	if err != nil {
		return nil, err
	}
	r.policySeq++
	p, err := emulator.SetPolicy("artifactregistryfake", r.policy, req, "BwY"+strconv.Itoa(r.policySeq))
	if err != nil {
		return nil, err
	}
	r.policy = p
	return proto.Clone(p).(*iampb.Policy), nil
}

// TestIamPermissions answers for an existing repository; the emulator
// enforces no IAM, so every permission asked for is granted.
func (s *server) TestIamPermissions(_ context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.repo(req.GetResource()); err != nil {
		return nil, err
	}
	return &iampb.TestIamPermissionsResponse{Permissions: slices.Clone(req.GetPermissions())}, nil
}
