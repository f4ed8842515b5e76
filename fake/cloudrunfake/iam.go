package cloudrunfake

import (
	"context"
	"slices"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/protobuf/proto"

	"github.com/twostage/twostage/internal/emulator"
)

// GetIamPolicy returns the service's policy (empty until set).
func (s *server) GetIamPolicy(_ context.Context, req *iampb.GetIamPolicyRequest) (*iampb.Policy, error) {
	if _, _, _, err := parseServiceName(req.GetResource()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.services[req.GetResource()]
	if !ok {
		return nil, serviceNotFound(req.GetResource())
	}
	return proto.Clone(st.policy).(*iampb.Policy), nil
}

// SetIamPolicy replaces the service's policy ("Overwrites any existing
// policy."). A non-empty stale etag is ABORTED, as IAM answers concurrent
// policy changes (unverified for Cloud Run).
func (s *server) SetIamPolicy(_ context.Context, req *iampb.SetIamPolicyRequest) (*iampb.Policy, error) {
	project, location, _, err := parseServiceName(req.GetResource())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkQuota(project, location); err != nil {
		return nil, err
	}
	st, ok := s.services[req.GetResource()]
	if !ok {
		return nil, serviceNotFound(req.GetResource())
	}
	p, err := emulator.SetPolicy("cloudrunfake", st.policy, req, s.nextEtag())
	if err != nil {
		return nil, err
	}
	st.policy = p
	return proto.Clone(p).(*iampb.Policy), nil
}

// TestIamPermissions answers for an existing service; the emulator enforces
// no IAM, so every permission asked for is granted.
func (s *server) TestIamPermissions(_ context.Context, req *iampb.TestIamPermissionsRequest) (*iampb.TestIamPermissionsResponse, error) {
	if _, _, _, err := parseServiceName(req.GetResource()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.services[req.GetResource()]; !ok {
		return nil, serviceNotFound(req.GetResource())
	}
	return &iampb.TestIamPermissionsResponse{Permissions: slices.Clone(req.GetPermissions())}, nil
}
