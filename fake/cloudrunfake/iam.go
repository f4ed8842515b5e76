package cloudrunfake

import (
	"bytes"
	"context"
	"slices"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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
	if req.GetPolicy() == nil {
		return nil, status.Error(codes.InvalidArgument, "policy is required")
	}
	if req.GetUpdateMask() != nil {
		return nil, status.Error(codes.Unimplemented, "cloudrunfake: SetIamPolicy update_mask is not emulated")
	}
	for i, b := range req.GetPolicy().GetBindings() {
		if b.GetRole() == "" || len(b.GetMembers()) == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "policy.bindings[%d]: a binding needs a role and at least one member", i)
		}
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
	if e := req.GetPolicy().GetEtag(); len(e) > 0 && !bytes.Equal(e, st.policy.GetEtag()) {
		return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
	}
	p := proto.Clone(req.GetPolicy()).(*iampb.Policy)
	p.Etag = []byte(s.nextEtag())
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
