package emulator

import (
	"bytes"

	"cloud.google.com/go/iam/apiv1/iampb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// SetPolicy returns the policy a SetIamPolicy request stores over cur (nil:
// none yet), stamped with etag, following google.iam.v1: the policy
// "Overwrites any existing policy"; a request policy whose etag is set and
// differs from cur's is ABORTED, as IAM answers concurrent policy changes
// ("There were concurrent policy changes…", the text IAM's clients retry
// on; unverified for each API); a binding needs a role and a member. An
// update_mask is UNIMPLEMENTED: every emulator stores the whole policy.
// The result is a new message; neither argument is modified.
func SetPolicy(emulatorName string, cur *iampb.Policy, req *iampb.SetIamPolicyRequest, etag string) (*iampb.Policy, error) {
	if req.GetPolicy() == nil {
		return nil, status.Error(codes.InvalidArgument, "policy is required")
	}
	if req.GetUpdateMask() != nil {
		return nil, status.Errorf(codes.Unimplemented, "%s: SetIamPolicy update_mask is not emulated", emulatorName)
	}
	for i, b := range req.GetPolicy().GetBindings() {
		if b.GetRole() == "" || len(b.GetMembers()) == 0 {
			return nil, status.Errorf(codes.InvalidArgument, "policy.bindings[%d]: a binding needs a role and at least one member", i)
		}
	}
	if e := req.GetPolicy().GetEtag(); len(e) > 0 && !bytes.Equal(e, cur.GetEtag()) {
		return nil, status.Error(codes.Aborted, "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.")
	}
	p := proto.Clone(req.GetPolicy()).(*iampb.Policy)
	p.Etag = []byte(etag)
	return p, nil
}
